"""Structural fuzzing of the bridge's routes (issue 10, build item 5): hypothesis generates
hostile JSON bodies (deep nesting, wide objects, odd types, long and unusual strings) and
hostile uploads (random bytes, truncated and nested JSONL, CSV and tool exports) and sends
them through the real app in process. No answer may be a 5xx or a non-JSON body; nothing a
rejected request sent may be stored. A bounded number of cases runs in `make test`; the
long run is marked slow."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignment_ci.monitor import queue as q
from rater_bridge.testing import fresh_database_url
from tests.test_bridge import make_env, pairwise

_ROOT = Path(tempfile.mkdtemp(prefix="bridge-fuzz-"))
ENV = make_env(_ROOT, fresh_database_url("sqlite", _ROOT))
FAST = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
LONG = settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def populated():
    assert ENV.push("acme", pairwise("fuzz-batch-001")).status_code == 201
    with q.session_scope(ENV.engine) as s:
        q.enqueue(s, [{"item_id": f"i{i}", "prompt": f"p{i}", "response_a": "a", "response_b": "b"} for i in range(2000)])
    yield
    ENV.client.close()
    ENV.app.state.bridge.dispose()
    shutil.rmtree(_ROOT, ignore_errors=True)


scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False), st.text(max_size=40),
                    st.sampled_from(["a", "b", "tie", "skip", "", "\x00", "../x", "x.lock", "é" * 30, "1e309"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=6),
                                                             st.dictionaries(st.text(max_size=12), inner, max_size=6)),
                           max_leaves=40)
keys = st.sampled_from(["rater_id", "answer", "rationale", "answers", "opt_outs", "daily_sensitive_quota", "evil", ""])
bodies = st.one_of(json_values, st.dictionaries(keys, json_values, max_size=5))


def _deep(depth: int) -> str:
    return '{"a":' + "[" * depth + "]" * depth + "}"


def _check(response) -> None:
    assert response.status_code < 500, response.text[:500]
    response.json()  # every answer is JSON, none a traceback page


def _task_id() -> str:
    r = ENV.client.get("/v1/tasks", params={"rater_id": "fuzz-r", "n": 1}, headers=ENV.auth("acme"))
    tasks = r.json()["tasks"]
    return tasks[0]["task_id"] if tasks else "0" * 32


def _json_routes(body: bytes) -> None:
    task = _task_id()
    headers = {**ENV.auth("acme"), "Content-Type": "application/json"}
    for method, path in (("POST", f"/v1/tasks/{task}/complete"), ("POST", f"/v1/tasks/{task}/release"),
                         ("POST", "/v1/calibration/helpfulness"), ("PUT", "/v1/raters/fuzz-r")):
        _check(ENV.client.request(method, path, content=body, headers=headers))


@FAST
@given(bodies)
def test_generated_json_bodies_never_cause_a_server_error(body) -> None:
    _json_routes(json.dumps(body).encode())


@FAST
@given(st.binary(max_size=300) | st.sampled_from([_deep(20_000).encode(), b"{" * 5000, b"\xff\xfe", b"[]"]))
def test_bytes_that_are_not_json_never_cause_a_server_error(body: bytes) -> None:
    _json_routes(body)


lines = st.one_of(
    st.builds(json.dumps, st.dictionaries(keys | st.sampled_from(["batch_id", "item_id", "choice", "prompt"]),
                                          json_values, max_size=8)),
    st.text(max_size=60),
    st.sampled_from([_deep(3000), '{"batch_id": "x.lock"}', "\x00", '{"a":1,"a":2}']),
)


@FAST
@given(fmt=st.sampled_from(["jsonl", "csv", "parquet", "labelstudio", "argilla"]),
       body=st.lists(lines, max_size=6).map(lambda ls: "\n".join(ls).encode()) | st.binary(max_size=200))
def test_generated_uploads_are_rejected_cleanly_and_store_nothing(fmt: str, body: bytes) -> None:
    blobs = ENV.config.resolve(ENV.config.stores.artifacts.path) / "blobs"
    before = sorted(blobs.rglob("*"))
    r = ENV.push("acme", body, fmt=fmt, **({"batch_id": "fuzz-tool"} if fmt in ("labelstudio", "argilla") else {}))
    _check(r)
    if r.status_code != 201:
        assert sorted(blobs.rglob("*")) == before


@pytest.mark.slow
@LONG
@given(bodies)
def test_long_fuzz_of_json_routes(body) -> None:
    _json_routes(json.dumps(body).encode())


@pytest.mark.slow
@LONG
@given(fmt=st.sampled_from(["jsonl", "csv", "labelstudio", "argilla"]),
       body=st.lists(lines, max_size=12).map(lambda ls: "\n".join(ls).encode()))
def test_long_fuzz_of_uploads(fmt: str, body: bytes) -> None:
    _check(ENV.push("acme", body, fmt=fmt, **({"batch_id": "fuzz-tool"} if fmt in ("labelstudio", "argilla") else {})))
