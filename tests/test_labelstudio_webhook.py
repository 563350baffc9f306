"""The Label Studio webhook: credentials Label Studio can send, vendor-bound projects and signatures,
bounded bodies, idempotent revisions, deletions, and queue tasks completed from annotations.

Payloads follow what Label Studio 1.23 posts (``tests/labelstudio/*.json`` were captured from a
running server by the integration suite, tests/test_labelstudio_live.py); the bridge runs on
SQLite and on PostgreSQL when ALIGNMENT_CI_TEST_PG_URL is set.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from alignment_ci.cli import app as cli
from alignment_ci.config import load_config
from alignment_ci.errors import InputError

from alignment_ci.monitor.queue import Assignment, QueueItem, enqueue, next_tasks, session_scope
from rater_bridge.app import create_app
from rater_bridge.db import LabelStudioAnnotation, LabelStudioRevision
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
runner = CliRunner()
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
    with env.app.state.bridge.sessions() as s, pytest.raises(InputError, match="bound to vendor 'acme'"):
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


# ----------------------------------------------------------------------------- idempotent revisions


def revision_count(env: BridgeEnv) -> int:
    with env.app.state.bridge.read_sessions() as s:
        return s.scalar(select(func.count()).select_from(LabelStudioRevision))


def latest_payload(env: BridgeEnv, annotation_id: int) -> dict[str, Any]:
    with env.app.state.bridge.read_sessions() as s:
        return json.loads(s.scalar(select(LabelStudioAnnotation.payload).where(LabelStudioAnnotation.annotation_id == annotation_id)))


def test_a_replayed_delivery_changes_nothing(env: BridgeEnv) -> None:
    """Issue 10, finding 10 / issue 16.2: the same body again used to add a revision."""
    raw = json.dumps(created_payload()).encode()
    first = deliver(env, None, env.auth("acme"), raw=raw).json()
    assert (first["revisions"], first["duplicate"]) == (1, False)
    for _ in range(2):
        again = deliver(env, None, env.auth("acme"), raw=raw).json()
        assert (again["revisions"], again["duplicate"]) == (1, True)
    # Label Studio re-sends the same revision as ANNOTATION_UPDATED with other task counters: still the same revision.
    same = created_payload()
    same["action"] = "ANNOTATION_UPDATED"
    same["task"]["total_annotations"] = 2
    assert deliver(env, same, env.auth("acme")).json()["duplicate"] is True
    assert revision_count(env) == 1 and stored(env) == [("ANNOTATION_CREATED", 71, 1)]


def test_an_update_is_a_new_revision_and_a_late_old_one_does_not_win(env: BridgeEnv) -> None:
    auth = env.auth("acme")
    deliver(env, created_payload(choice="a", updated_at="2026-12-06T20:01:00.000000Z"), auth)
    updated = created_payload(choice="b", updated_at="2026-12-06T20:05:00.000000Z")
    updated["action"] = "ANNOTATION_UPDATED"
    r = deliver(env, updated, auth).json()
    assert (r["revisions"], r["duplicate"]) == (2, False)
    assert latest_payload(env, 71)["annotation"]["result"][0]["value"]["choices"] == ["b"]
    # A revision older than the latest, delivered late (a retry), is history only.
    late = created_payload(choice="tie", updated_at="2026-12-06T20:03:00.000000Z")
    late["action"] = "ANNOTATION_UPDATED"
    assert deliver(env, late, auth).json()["revisions"] == 3
    assert latest_payload(env, 71)["annotation"]["result"][0]["value"]["choices"] == ["b"]
    assert stored(env) == [("ANNOTATION_UPDATED", 71, 3)] and revision_count(env) == 3


def test_deletions_are_recorded_once(env: BridgeEnv) -> None:
    auth = env.auth("acme")
    deliver(env, created_payload(annotation_id=71), auth)
    deleted = {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 71}, {"id": 80}], "project": {"id": 3}}
    r = deliver(env, deleted, auth).json()
    assert (r["handled"], r["deleted"], r["duplicate"]) == (True, [71, 80], False)
    assert sorted(stored(env)) == [("ANNOTATIONS_DELETED", 71, 2), ("ANNOTATIONS_DELETED", 80, 1)]
    r = deliver(env, deleted, auth).json()
    assert (r["deleted"], r["duplicate"]) == ([], True)
    assert revision_count(env) == 3
    # A deletion needs the project too, and a vendor cannot delete in another's project.
    r = deliver(env, dict(deleted, project={"id": 3}), {"Authorization": f"Bearer {webhook_token(env, 'globex')}"})
    assert r.status_code == 403
    assert deliver(env, {"action": "ANNOTATIONS_DELETED", "annotations": "71", "project": {"id": 3}}, auth).status_code == 400


# ----------------------------------------------------------------------------- closing the loop


def hand_out(env: BridgeEnv, vendor: str, rater: str, n: int = 3) -> list[dict[str, Any]]:
    """Queue items handed out to ``vendor``'s rater, as `labelstudio connect` does."""
    bridge = env.app.state.bridge
    items = [{"item_id": f"it-{vendor}-{i}", "prompt": f"prompt {i}", "response_a": f"A{i}", "response_b": f"B{i}",
              "dimension": "helpfulness"} for i in range(n)]
    with session_scope(bridge.engine) as s:
        enqueue(s, items)
    with session_scope(bridge.engine) as s:
        return next_tasks(s, vendor, rater, n, gold_rate=0.0)


def ls_task_for(queue_task: dict[str, Any], rater: str, payload: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(payload)
    body["task"]["data"] = {"prompt": queue_task["prompt"], "response_a": queue_task["responses"][0],
                            "response_b": queue_task["responses"][1], "dimension": queue_task["dimension"],
                            "queue_task_id": queue_task["task_id"], "queue_rater_id": rater}
    return body


def assignment(env: BridgeEnv, task_id: str) -> tuple[Any, Any, str]:
    with session_scope(env.app.state.bridge.engine) as s:
        a = s.scalar(select(Assignment).where(Assignment.task_id == task_id))
        return a.completed_at, a.answer, s.get(QueueItem, task_id).status


def test_an_annotation_completes_the_queue_task_it_answers(env: BridgeEnv) -> None:
    """Issue 16.4 / issue 10: the webhook stored annotations but never completed queue tasks."""
    tasks = hand_out(env, "acme", "labelstudio-3")
    body = ls_task_for(tasks[0], "labelstudio-3", created_payload(choice="b"))
    r = deliver(env, body, env.auth("acme"))
    assert r.status_code == 200, r.text
    assert r.json()["queue_task"] == {"task_id": tasks[0]["task_id"], "completed": True, "answer": "b", "reason": None}
    completed_at, answer, status = assignment(env, tasks[0]["task_id"])
    assert completed_at is not None and answer == "b" and status == "done"
    # The replay changes nothing and says what the first delivery did.
    again = deliver(env, body, env.auth("acme")).json()
    assert again["duplicate"] is True and again["queue_task"]["completed"] is True
    assert assignment(env, tasks[0]["task_id"])[1] == "b"
    # The other tasks are untouched.
    assert assignment(env, tasks[1]["task_id"])[2] == "assigned"


def test_a_cancelled_annotation_completes_the_task_as_a_skip(env: BridgeEnv) -> None:
    tasks = hand_out(env, "acme", "labelstudio-3")
    body = ls_task_for(tasks[1], "labelstudio-3", created_payload(annotation_id=90, was_cancelled=True, result=[]))
    assert deliver(env, body, env.auth("acme")).json()["queue_task"]["answer"] == "skip"
    assert assignment(env, tasks[1]["task_id"])[1:] == ("skip", "done")


def test_what_does_not_complete_a_queue_task(env: BridgeEnv) -> None:
    acme_tasks = hand_out(env, "acme", "labelstudio-3")
    # globex, in its own project, naming acme's queue task: not its task.
    body = ls_task_for(acme_tasks[0], "labelstudio-3", created_payload(annotation_id=91, project_id=4))
    r = deliver(env, body, env.auth("globex")).json()
    assert r["queue_task"]["completed"] is False and acme_tasks[0]["task_id"] in r["queue_task"]["reason"]
    # A ground-truth annotation is not a rater's answer.
    gt = ls_task_for(acme_tasks[0], "labelstudio-3", created_payload(annotation_id=92, ground_truth=True))
    r = deliver(env, gt, env.auth("acme")).json()
    assert r["queue_task"]["completed"] is False and "ground truth" in r["queue_task"]["reason"]
    # An annotation the importer cannot read is stored, and says why the task stays open.
    bad = ls_task_for(acme_tasks[0], "labelstudio-3", created_payload(annotation_id=93, choice="maybe"))
    r = deliver(env, bad, env.auth("acme")).json()
    assert r["queue_task"]["completed"] is False and "not one of a/b/tie/skip" in r["queue_task"]["reason"]
    assert assignment(env, acme_tasks[0]["task_id"])[2] == "assigned"
    # A plain Label Studio task (not from the queue) is simply stored.
    assert deliver(env, created_payload(annotation_id=94), env.auth("acme")).json()["queue_task"] is None


# ----------------------------------------------------------------------------- captured from Label Studio 1.23.2


def captured(name: str, project_id: int, queue_task: dict[str, Any] | None = None, rater: str | None = None) -> dict[str, Any]:
    """A delivery as the real server sent it (tests/labelstudio/), re-pointed at this test's
    project and, for a task from the queue, at a task this test handed out."""
    body = json.loads((CAPTURED / f"{name}.json").read_text())
    body["project"]["id"] = project_id
    if "annotation" in body:
        body["annotation"]["project"] = project_id
    if queue_task is not None:
        body["task"]["data"].update(queue_task_id=queue_task["task_id"], queue_rater_id=rater,
                                    prompt=queue_task["prompt"], response_a=queue_task["responses"][0],
                                    response_b=queue_task["responses"][1])
    return body


def test_deliveries_captured_from_a_real_label_studio(env: BridgeEnv) -> None:
    tasks = hand_out(env, "acme", "labelstudio-3")
    auth = {"Authorization": f"Bearer {webhook_token(env, 'acme')}"}
    outcome = [deliver(env, captured(name, 3, task, "labelstudio-3"), auth).json()["queue_task"]
               for name, task in (("created-answer", tasks[0]), ("created-cancelled", tasks[1]),
                                  ("created-ground-truth", tasks[2]))]
    assert [(o["completed"], o["answer"]) for o in outcome] == [(True, "b"), (True, "skip"), (False, None)]
    assert "ground truth" in outcome[2]["reason"]
    assert deliver(env, captured("created-answer", 3, tasks[0], "labelstudio-3"), auth).json()["duplicate"] is True
    assert deliver(env, captured("created-tie", 3), auth).json()["revisions"] == 1
    updated = deliver(env, captured("updated", 3), auth).json()
    assert (updated["action"], updated["annotation_id"], updated["revisions"]) == ("ANNOTATION_UPDATED", 19, 2)
    deleted = deliver(env, captured("deleted", 3), auth).json()
    assert deleted["deleted"] == [20]
    assert [assignment(env, t["task_id"])[1:] for t in tasks] == [("b", "done"), ("skip", "done"), (None, "assigned")]


def test_the_project_object_is_not_kept_beyond_its_id_and_title(env: BridgeEnv) -> None:
    """Label Studio sends the whole project, its access token included; the bridge keeps id and title."""
    body = created_payload()
    body["project"].update(token="project-secret-token", task_data_password="pw")
    deliver(env, body, env.auth("acme"))
    with env.app.state.bridge.read_sessions() as s:
        kept = " ".join(s.scalars(select(LabelStudioRevision.payload)).all() + s.scalars(select(LabelStudioAnnotation.payload)).all())
    assert "project-secret-token" not in kept and '"pw"' not in kept and "acme helpfulness" in kept


# ----------------------------------------------------------------------------- CLI


def test_cli_webhook_token_binds_projects_and_prints_a_working_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = tmp_path / "alignment.yaml"
    config_file.write_text("bridge:\n  database_url: sqlite:///state/bridge.db\n")
    cfg = ["--config", str(config_file)]
    assert runner.invoke(cli, ["bridge", "vendor", "add", "acme", *cfg]).exit_code == 0
    r = runner.invoke(cli, ["bridge", "vendor", "webhook-token", "acme", "--project", "12", *cfg, "--format", "json"])
    assert r.exit_code == 0, r.output
    issued = json.loads(r.stdout)
    assert issued["token"].startswith("acw_") and issued["projects"] == [12]
    listed = json.loads(runner.invoke(cli, ["bridge", "vendor", "list", *cfg, "--format", "json"]).stdout)
    assert len(listed[0]["tokens"]) == 2 and issued["token"] not in json.dumps(listed)
    app = create_app(load_config(config_file), environ={})
    with TestClient(app) as client:
        body = created_payload(project_id=12)
        r = client.post(URL, json=body, headers={"Authorization": f"Bearer {issued['token']}"})
        assert r.status_code == 200 and r.json()["handled"] is True
    app.state.bridge.dispose()
    # another vendor cannot take project 12; signing keys need the master secret
    assert runner.invoke(cli, ["bridge", "vendor", "add", "globex", *cfg]).exit_code == 0
    taken = runner.invoke(cli, ["bridge", "vendor", "webhook-token", "globex", "--project", "12", *cfg])
    assert isinstance(taken.exception, InputError) and "bound to vendor 'acme'" in str(taken.exception)
    monkeypatch.delenv("ALIGNMENT_CI_LABELSTUDIO_SECRET", raising=False)
    nokey = runner.invoke(cli, ["bridge", "vendor", "webhook-token", "acme", "--signing-key", *cfg])
    assert isinstance(nokey.exception, InputError) and "ALIGNMENT_CI_LABELSTUDIO_SECRET" in str(nokey.exception)
    monkeypatch.setenv("ALIGNMENT_CI_LABELSTUDIO_SECRET", "master")
    key = runner.invoke(cli, ["bridge", "vendor", "webhook-token", "acme", "--signing-key", *cfg])
    assert key.exit_code == 0 and key.stdout.strip() == signing_key("master", "acme")


def test_cli_connect_refuses_bad_input_before_writing(tmp_path: Path) -> None:
    config_file = tmp_path / "alignment.yaml"
    config_file.write_text("bridge:\n  database_url: sqlite:///state/bridge.db\n")
    base = ["labelstudio", "connect", "--url", "http://127.0.0.1:9", "--token", "t", "--project", "p", "--vendor", "acme",
            "--config", str(config_file)]
    bad_dim = runner.invoke(cli, [*base, "--bridge-url", "http://127.0.0.1:8000", "--dimension", "nope"])
    assert isinstance(bad_dim.exception, InputError) and "'nope' is not in the taxonomy" in str(bad_dim.exception)
    bad_url = runner.invoke(cli, [*base, "--bridge-url", "bridge.example"])
    assert isinstance(bad_url.exception, InputError) and "--bridge-url" in str(bad_url.exception)
    down = runner.invoke(cli, [*base, "--bridge-url", "http://127.0.0.1:8000"])  # nothing listens on port 9
    assert "Label Studio at http://127.0.0.1:9" in str(down.exception)
    assert "connect" in runner.invoke(cli, ["labelstudio", "--help"]).stdout


def test_an_annotation_the_importer_cannot_read_is_stored_not_a_500(env: BridgeEnv) -> None:
    """A result whose value is not an object used to raise AttributeError inside the importer."""
    tasks = hand_out(env, "acme", "labelstudio-3")
    body = ls_task_for(tasks[0], "labelstudio-3", created_payload(annotation_id=95))
    body["annotation"]["result"] = [{"type": "choices", "from_name": "helpfulness", "value": ["a"]}]
    r = deliver(env, body, env.auth("acme"))
    assert r.status_code == 200, r.text
    assert r.json()["queue_task"]["completed"] is False
    assert "has a value that is not an object" in r.json()["queue_task"]["reason"]  # the importer's own error
    assert assignment(env, tasks[0]["task_id"])[2] == "assigned"
