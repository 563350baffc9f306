"""The Label Studio webhook: credentials Label Studio can send, vendor-bound projects and signatures,
bounded bodies, idempotent revisions, deletions, and queue tasks completed from annotations.

Payloads follow what Label Studio 1.23 posts (``tests/labelstudio/*.json`` were captured from a
running server by the integration suite, tests/test_labelstudio_live.py); the bridge runs on
SQLite and on PostgreSQL when ALIGNMENT_CI_TEST_PG_URL is set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from rater_bridge.db import LabelStudioAnnotation
from rater_bridge.testing import fresh_database_url
from rater_bridge.webhooks import (
    SIGNATURE_HEADER,
    VENDOR_HEADER,
    bind_project,
    issue_webhook_token,
    sign,
    signing_key,
)
from tests.test_bridge import SECRET, BridgeEnv, make_env

URL = "/v1/webhooks/labelstudio"
CAPTURED = Path(__file__).parent / "labelstudio"


def created_payload(annotation_id: int = 71, task_id: int = 9, project_id: int = 3, choice: str = "a",
                    updated_at: str = "2026-12-06T20:01:02.123456Z", **annotation: Any) -> dict[str, Any]:
    """An ANNOTATION_CREATED body shaped as Label Studio 1.23 sends it."""
    ann = {
        "id": annotation_id, "completed_by": 2, "was_cancelled": False, "ground_truth": False,
        "result": [{"id": "r1", "type": "choices", "from_name": "helpfulness", "to_name": "prompt", "origin": "manual",
                    "value": {"choices": [choice]}}],
        "created_at": "2026-12-06T20:01:02.123456Z", "updated_at": updated_at, "lead_time": 4.2,
        "task": task_id, "project": project_id, "updated_by": 2, "parent_prediction": None, "parent_annotation": None,
        "last_action": None, "bulk_created": False, "draft_created_at": None, "import_id": None,
        "created_username": " annotator@vendor.example, 2", "created_ago": "0\xa0minutes",
    }
    ann.update(annotation)
    return {
        "action": "ANNOTATION_CREATED",
        "annotation": ann,
        "task": {"id": task_id, "data": {"prompt": "Is water wet?", "response_a": "Yes.", "response_b": "No."},
                 "meta": {}, "project": project_id, "is_labeled": True, "overlap": 1, "inner_id": task_id,
                 "total_annotations": 1, "cancelled_annotations": 0, "total_predictions": 0},
        "project": {"id": project_id, "title": "acme helpfulness", "label_config": "<View/>"},
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path: Path):
    url = fresh_database_url(request.param, tmp_path)
    if url is None:
        pytest.skip("set ALIGNMENT_CI_TEST_PG_URL to run the bridge against PostgreSQL")
    e = make_env(tmp_path, url)
    with e.app.state.bridge.sessions() as s:
        bind_project(s, "acme", 3)
        bind_project(s, "globex", 4)
    yield e
    e.client.close()
    e.app.state.bridge.dispose()


def deliver(env: BridgeEnv, payload: Any, headers: dict[str, str] | None = None, raw: bytes | None = None) -> httpx.Response:
    body = raw if raw is not None else json.dumps(payload).encode()
    return env.client.post(URL, content=body, headers={"Content-Type": "application/json", **(headers or {})})


def webhook_token(env: BridgeEnv, vendor: str) -> str:
    with env.app.state.bridge.sessions() as s:
        return issue_webhook_token(s, vendor)


def stored(env: BridgeEnv) -> list[tuple[str, int, int]]:
    with env.app.state.bridge.read_sessions() as s:
        return [(r.action, r.annotation_id, r.revisions) for r in s.scalars(select(LabelStudioAnnotation).order_by(LabelStudioAnnotation.id))]


# ----------------------------------------------------------------------------- credentials


def test_a_static_bearer_header_is_enough_no_signature_needed(env: BridgeEnv) -> None:
    """What Label Studio can send: fixed headers. Before, every such delivery got 401."""
    token = webhook_token(env, "acme")
    assert token.startswith("acw_")
    r = deliver(env, created_payload(), {"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json()["handled"] is True and r.json()["annotation_id"] == 71
    # The vendor's API token works the same way.
    r = deliver(env, created_payload(annotation_id=72), env.auth("acme"))
    assert r.status_code == 200, r.text
    assert stored(env) == [("ANNOTATION_CREATED", 71, 1), ("ANNOTATION_CREATED", 72, 1)]


def test_missing_unknown_and_revoked_credentials_are_refused(env: BridgeEnv) -> None:
    from rater_bridge.auth import revoke_tokens

    assert deliver(env, created_payload()).status_code == 401
    assert deliver(env, created_payload(), {"Authorization": "Bearer acw_nope"}).status_code == 401
    assert deliver(env, created_payload(), {"Authorization": "Basic abc"}).status_code == 401
    token = webhook_token(env, "acme")
    with env.app.state.bridge.sessions() as s:
        revoke_tokens(s, "acme")
    r = deliver(env, created_payload(), {"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert stored(env) == []


def test_a_webhook_token_opens_no_other_route(env: BridgeEnv) -> None:
    """It sits in a Label Studio project's settings: it must not push batches or pull tasks."""
    headers = {"Authorization": f"Bearer {webhook_token(env, 'acme')}"}
    assert env.client.get("/v1/batches", headers=headers).status_code == 401
    assert env.client.get("/v1/tasks", params={"rater_id": "r1"}, headers=headers).status_code == 401
    assert env.client.post("/v1/batches", params={"format": "jsonl"}, content=b"{}\n", headers=headers).status_code == 401


def test_a_vendor_cannot_write_into_another_vendors_project(env: BridgeEnv) -> None:
    """Project 3 is acme's: globex's valid credential is refused there, and for an unbound project."""
    globex = {"Authorization": f"Bearer {webhook_token(env, 'globex')}"}
    r = deliver(env, created_payload(project_id=3), globex)
    assert r.status_code == 403 and "project 3 is not bound to this vendor" in r.json()["detail"]
    r = deliver(env, created_payload(project_id=99), globex)
    assert r.status_code == 403 and "--project 99" in r.json()["detail"]
    assert stored(env) == []
    assert deliver(env, created_payload(project_id=4), globex).status_code == 200
    with env.app.state.bridge.sessions() as s, pytest.raises(Exception, match="bound to vendor 'acme'"):
        bind_project(s, "globex", 3)


def test_a_signature_is_tied_to_the_vendor(env: BridgeEnv) -> None:
    """Each vendor signs under its own key; a body signed for acme is refused for globex."""
    body = json.dumps(created_payload(project_id=4)).encode()
    globex_key, acme_key = signing_key(SECRET, "globex"), signing_key(SECRET, "acme")
    assert globex_key != acme_key
    ok = {VENDOR_HEADER: "globex", SIGNATURE_HEADER: sign(globex_key, body)}
    # the old scheme (the bridge-wide secret itself) and acme's key no longer sign for globex
    for bad in (sign(SECRET, body), sign(acme_key, body)):
        r = deliver(env, None, {VENDOR_HEADER: "globex", SIGNATURE_HEADER: bad}, raw=body)
        assert r.status_code == 401, r.text
    assert deliver(env, None, {VENDOR_HEADER: "acme", SIGNATURE_HEADER: sign(acme_key, body)}, raw=body).status_code == 403
    assert deliver(env, None, {VENDOR_HEADER: "nobody", SIGNATURE_HEADER: sign(acme_key, body)}, raw=body).status_code == 401
    assert deliver(env, None, ok, raw=body).status_code == 200
    # A signature beside a bearer token is checked against the token's vendor.
    r = deliver(env, None, {**env.auth("globex"), SIGNATURE_HEADER: sign(acme_key, body)}, raw=body)
    assert r.status_code == 401
    r = deliver(env, None, {**env.auth("globex"), VENDOR_HEADER: "acme"}, raw=body)
    assert r.status_code == 401


def test_signed_deliveries_need_the_master_secret(tmp_path: Path) -> None:
    e = make_env(tmp_path, fresh_database_url("sqlite", tmp_path), environ={"ALIGNMENT_CI_LABELSTUDIO_SECRET": ""})
    with e.app.state.bridge.sessions() as s:
        bind_project(s, "acme", 3)
    body = json.dumps(created_payload()).encode()
    r = deliver(e, None, {VENDOR_HEADER: "acme", SIGNATURE_HEADER: sign(signing_key("", "acme"), body)}, raw=body)
    assert r.status_code == 403 and "Bearer" in r.json()["detail"]
    # Bearer deliveries need no secret at all.
    assert deliver(e, None, e.auth("acme"), raw=body).status_code == 200
    e.client.close()
    e.app.state.bridge.dispose()


# ----------------------------------------------------------------------------- hostile bodies


@pytest.mark.parametrize("depth", [65, 2000, 200_000])
def test_deeply_nested_bodies_get_422_not_500(env: BridgeEnv, depth: int) -> None:
    """Issue 10, finding 4: a signed, deeply nested body was a 500 (RecursionError)."""
    payload = created_payload()
    nested = "[" * depth + "]" * depth
    raw = json.dumps(payload).encode()[:-1] + b', "deep": ' + nested.encode() + b"}"
    key = signing_key(SECRET, "acme")
    env.app.state.bridge.settings.max_webhook_bytes = 1 << 20
    r = deliver(env, None, {VENDOR_HEADER: "acme", SIGNATURE_HEADER: sign(key, raw)}, raw=raw)
    assert r.status_code == 422, r.text
    assert "bridge.max_webhook_depth" in r.json()["detail"]
    assert stored(env) == []


def test_oversized_and_malformed_bodies(env: BridgeEnv) -> None:
    env.app.state.bridge.settings.max_webhook_bytes = 2000
    r = deliver(env, None, env.auth("acme"), raw=b'{"action": "' + b"x" * 5000 + b'"}')
    assert r.status_code == 413 and "bridge.max_webhook_bytes" in r.json()["detail"]
    assert deliver(env, None, env.auth("acme"), raw=b"{not json").status_code == 400
    assert deliver(env, ["a list"], env.auth("acme")).status_code == 400
    assert deliver(env, {"action": "ANNOTATION_CREATED", "annotation": {"id": "x"}, "project": {"id": 3}}, env.auth("acme")).status_code == 400
    bad_value = created_payload()
    bad_value["annotation"].pop("project")
    bad_value.pop("project")
    r = deliver(env, bad_value, env.auth("acme"))
    assert r.status_code == 400 and "names no project" in r.json()["detail"]
    assert deliver(env, {"action": "PROJECT_CREATED", "project": {"id": 3}}, env.auth("acme")).json()["handled"] is False

