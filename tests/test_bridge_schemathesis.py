"""Property-based tests of the bridge's OpenAPI spec with schemathesis, in process (ASGI).

Every operation is called with generated parameters and bodies, as an authenticated
vendor, against an app with data in it (a published batch, queued tasks). The run must
find no server error (5xx), and every answer must use a documented status code and match
its documented schema.

(The app is built at import because schemathesis' lazy ``from_fixture`` loader does not
work with pytest 9; the data is added by a module fixture.)
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from alignment_ci.monitor import queue as q
from rater_bridge.testing import fresh_database_url
from tests.test_bridge import make_env, pairwise

_ROOT = Path(tempfile.mkdtemp(prefix="bridge-schemathesis-"))
ENV = make_env(_ROOT, fresh_database_url("sqlite", _ROOT))
schema = schemathesis.openapi.from_asgi("/openapi.json", ENV.app)


@pytest.fixture(scope="module", autouse=True)
def populated():
    assert ENV.push("acme", pairwise("demo-batch-001")).status_code == 201
    with q.session_scope(ENV.engine) as s:
        q.enqueue(s, [{"item_id": f"i{i}", "prompt": f"p{i}", "response_a": "a", "response_b": "b"} for i in range(300)])
    yield
    ENV.client.close()
    ENV.app.state.bridge.dispose()
    shutil.rmtree(_ROOT, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors_and_answers_match_the_spec(case) -> None:
    case.call_and_validate(
        headers=ENV.auth("acme"),
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
