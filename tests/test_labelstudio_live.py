"""Against a real Label Studio (1.23.2, in its own environment): `labelstudio connect`, annotations by
two users through the REST API, the server's own webhook deliveries completing queue tasks, a
replay that changes nothing, and the JSON export through import → validate → ingest.

Run by `make test-labelstudio` (which installs label-studio into .venv-labelstudio and sets
ALIGNMENT_CI_LABEL_STUDIO to its `label-studio` executable); skipped otherwise.
Set ALIGNMENT_CI_LABELSTUDIO_CAPTURE=DIR to write the deliveries the server sent (the payloads the
unit tests in tests/test_labelstudio_webhook.py are shaped after).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from alignment_ci.cli import app as cli
from alignment_ci.config import load_config
from alignment_ci.monitor.queue import Assignment, QueueItem, enqueue, session_scope
from rater_bridge.app import create_app
from rater_bridge.auth import add_vendor
from rater_bridge.db import LabelStudioAnnotation, LabelStudioRevision
from rater_bridge.testing import serve_in_thread

LABEL_STUDIO = os.environ.get("ALIGNMENT_CI_LABEL_STUDIO") or os.environ.get("ALIGNMENT_CI_LABEL_STUDIO_URL")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not LABEL_STUDIO, reason="run with `make test-labelstudio` (needs label-studio in its own venv)"),
]
ADMIN, ADMIN_PASSWORD = "admin@example.com", "admin-pass-" + secrets.token_hex(4)
ADMIN_TOKEN = secrets.token_hex(20)
runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabelStudio:
    url: str
    admin: httpx.Client
    token: str

    def as_user(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Token {token}"}, timeout=60)

    def add_annotator(self, email: str, password: str) -> tuple[int, str]:
        """A second user of the organization, non-interactively, through the invite link: sign up
        with the organization's invite token, then read the user's own API token in that session.
        (`POST /api/users/` would create a user outside the organization, without a usable login.)"""
        invite = self.admin.get("/api/invite").json()["token"]
        with httpx.Client(base_url=self.url, timeout=60, follow_redirects=False) as browser:
            browser.get("/user/signup/", params={"token": invite})
            r = browser.post("/user/signup/", params={"token": invite},
                             data={"email": email, "password": password, "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
                             headers={"Referer": f"{self.url}/user/signup/"})
            assert r.status_code == 302, r.text[-2000:]
            token = browser.get("/api/current-user/token").json()["token"]
            user_id = browser.get("/api/current-user/whoami").json()["id"]
        return user_id, token


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudio]:
    running = os.environ.get("ALIGNMENT_CI_LABEL_STUDIO_URL")
    if running:  # a server already started as above (started with SSRF_PROTECTION_ENABLED=false)
        token = os.environ["ALIGNMENT_CI_LABEL_STUDIO_TOKEN"]
        with httpx.Client(base_url=running, headers={"Authorization": f"Token {token}"}, timeout=60) as admin:
            yield LabelStudio(running, admin, token)
        return
    data = tmp_path_factory.mktemp("label-studio")
    port = _free_port()
    env = {**os.environ, "LATEST_VERSION_CHECK": "false", "SSRF_PROTECTION_ENABLED": "false", "WEBHOOK_TIMEOUT": "60",
           "LABEL_STUDIO_BASE_DATA_DIR": str(data), "HOME": str(data)}
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen(
        [LABEL_STUDIO, "start", "--internal-host", "127.0.0.1", "--port", str(port), "--data-dir", str(data / "data"),
         "--username", ADMIN, "--password", ADMIN_PASSWORD, "--user-token", ADMIN_TOKEN, "--enable-legacy-api-token",
         "--no-browser"],
        cwd=data, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + float(os.environ.get("ALIGNMENT_CI_LABEL_STUDIO_START_S", "900"))
    try:
        while True:
            assert proc.poll() is None, (data / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=5).json() == {"status": "UP"}:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            assert time.monotonic() < deadline, "Label Studio did not answer /health in time"
            time.sleep(2)
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Token {ADMIN_TOKEN}"}, timeout=60)
        yield LabelStudio(url, admin, ADMIN_TOKEN)
        admin.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def choice_result(dimension: str, label: str) -> list[dict[str, Any]]:
    return [{"from_name": dimension, "to_name": "prompt", "type": "choices", "origin": "manual", "value": {"choices": [label]}}]


def test_real_label_studio_closes_the_loop(label_studio: LabelStudio, tmp_path: Path) -> None:
    ls = label_studio
    config_path = tmp_path / "alignment.yaml"
    config_path.write_text(f"bridge:\n  database_url: sqlite:///{tmp_path / 'bridge.db'}\n  gold_rate: 0.0\n")
    config = load_config(config_path)
    bridge_app = create_app(config, environ={})
    bridge = bridge_app.state.bridge
    with bridge.sessions() as s:
        add_vendor(s, "acme")
    items = [{"item_id": f"live-{i}", "prompt": f"Question {i}?", "response_a": f"Answer A{i}", "response_b": f"Answer B{i}",
              "dimension": "helpfulness"} for i in range(4)]
    with session_scope(bridge.engine) as s:
        enqueue(s, items)

    title = f"acme helpfulness {secrets.token_hex(3)}"
    with serve_in_thread(bridge_app) as bridge_url:
        # 1. connect: project from the generated config, queue tasks, webhook with the bearer header
        user_id, user_token = ls.add_annotator(f"rater2-{secrets.token_hex(3)}@example.com", "rater2-pass-" + secrets.token_hex(4))
        with ls.as_user(user_token) as rater2:  # rater 2's personal access token (a JWT refresh token)
            pat = rater2.post("/api/token/").json()["token"]
        r = runner.invoke(cli, ["labelstudio", "connect", "--url", ls.url, "--token", pat,
                                "--project", title, "--vendor", "acme", "--bridge-url", bridge_url,
                                "--tasks", "3", "--config", str(config_path), "--format", "json"])
        assert r.exit_code == 0, (r.output, r.exception)
        connected = json.loads(r.stdout)
        assert connected["created"] is True and connected["tasks_imported"] == 3
        project = connected["project"]
        hooks = ls.admin.get("/api/webhooks", params={"project": project}).json()
        assert [(h["url"], h["headers"]["Authorization"].startswith("Bearer acw_")) for h in hooks] == [
            (f"{bridge_url}/v1/webhooks/labelstudio", True)]
        # Run again (legacy token, existing project by id): the same webhook, with a fresh token; no new tasks.
        r = runner.invoke(cli, ["labelstudio", "connect", "--url", ls.url, "--token", ls.token, "--project", str(project),
                                "--vendor", "acme", "--bridge-url", bridge_url, "--tasks", "0", "--config", str(config_path),
                                "--format", "json"])
        assert r.exit_code == 0, (r.output, r.exception)
        assert (json.loads(r.stdout)["created"], json.loads(r.stdout)["tasks_imported"]) == (False, 0)
        rehooks = ls.admin.get("/api/webhooks", params={"project": project}).json()
        assert [h["id"] for h in rehooks] == [h["id"] for h in hooks] and rehooks[0]["headers"] != hooks[0]["headers"]
        hooks = rehooks
        listing = ls.admin.get(f"/api/projects/{project}/tasks", params={"page_size": 100}).json()
        tasks = listing["tasks"] if isinstance(listing, dict) else listing
        assert len(tasks) == 3 and all(t["data"]["queue_rater_id"] == f"labelstudio-{project}" for t in tasks)

        # 2. two annotators: the admin (ground truth on task 0, an answer on task 1) and a second user
        with ls.as_user(user_token) as rater2:
            answers = {}
            r = rater2.post(f"/api/tasks/{tasks[0]['id']}/annotations/",
                            json={"result": choice_result("helpfulness", "B is better"), "lead_time": 7.5})
            assert r.status_code == 201, r.text
            answers["rater2-task0"] = r.json()
            r = rater2.post(f"/api/tasks/{tasks[2]['id']}/annotations/", json={"result": [], "was_cancelled": True})
            assert r.status_code == 201, r.text
            answers["rater2-cancelled"] = r.json()
        r = ls.admin.post(f"/api/tasks/{tasks[0]['id']}/annotations/",
                          json={"result": choice_result("helpfulness", "A is better"), "ground_truth": True})
        assert r.status_code == 201, r.text
        answers["admin-ground-truth"] = r.json()
        r = ls.admin.post(f"/api/tasks/{tasks[1]['id']}/annotations/", json={"result": choice_result("helpfulness", "Tie")})
        assert r.status_code == 201, r.text
        answers["admin-task1"] = r.json()
        with ls.as_user(user_token) as rater2:  # a second answer to task 1: the queue task is already done
            r = rater2.post(f"/api/tasks/{tasks[1]['id']}/annotations/", json={"result": choice_result("helpfulness", "A is better")})
            assert r.status_code == 201, r.text
            answers["rater2-task1"] = r.json()

        # 3. the server's own deliveries completed the queue tasks (the webhook is synchronous)
        def queue_state() -> dict[str, tuple[str, Any]]:
            with session_scope(bridge.engine) as s:
                return {t["data"]["queue_task_id"]: (s.get(QueueItem, t["data"]["queue_task_id"]).status,
                                                     s.scalar(select(Assignment.answer).where(Assignment.task_id == t["data"]["queue_task_id"])))
                        for t in tasks}

        state = queue_state()
        assert [state[t["data"]["queue_task_id"]] for t in tasks] == [("done", "b"), ("done", "tie"), ("done", "skip")]
        with bridge.read_sessions() as s:
            revisions = list(s.scalars(select(LabelStudioRevision).order_by(LabelStudioRevision.id)))
        assert len(revisions) == 5
        outcomes = [json.loads(rev.queue)["completed"] if rev.queue else None for rev in revisions]
        # rater 2 on task 0, rater 2's skip, the admin's ground truth (not an answer), the admin on task 1,
        # rater 2 on task 1 (already done)
        assert outcomes == [True, True, False, True, False], [rev.queue for rev in revisions]

        # 4. a replayed delivery (the body the server sent, with its header) changes nothing
        webhook_header = hooks[0]["headers"]
        first = json.loads(revisions[0].payload)
        replay = httpx.post(f"{bridge_url}/v1/webhooks/labelstudio", json=first, headers=webhook_header, timeout=30)
        assert replay.status_code == 200 and replay.json()["duplicate"] is True
        with bridge.read_sessions() as s:
            assert len(s.scalars(select(LabelStudioRevision)).all()) == 5
        assert queue_state() == state

        # 5. an update is a new revision; a deletion is recorded
        ann = answers["admin-task1"]
        r = ls.admin.patch(f"/api/annotations/{ann['id']}/", json={"result": choice_result("helpfulness", "A is better")})
        assert r.status_code == 200, r.text
        with ls.as_user(user_token) as rater2:
            r = rater2.delete(f"/api/annotations/{answers['rater2-task1']['id']}/")
            assert r.status_code == 204, r.text
        with bridge.read_sessions() as s:
            rows = {a.annotation_id: (a.action, a.revisions) for a in s.scalars(select(LabelStudioAnnotation))}
        assert rows[ann["id"]] == ("ANNOTATION_UPDATED", 2)
        assert rows[answers["rater2-task1"]["id"]] == ("ANNOTATIONS_DELETED", 2)
        capture = os.environ.get("ALIGNMENT_CI_LABELSTUDIO_CAPTURE")
        if capture:
            Path(capture).mkdir(parents=True, exist_ok=True)
            with bridge.read_sessions() as s:
                for rev in s.scalars(select(LabelStudioRevision).order_by(LabelStudioRevision.id)):
                    Path(capture, f"{rev.id:02d}-{rev.action.lower()}.json").write_text(
                        json.dumps(json.loads(rev.payload), indent=2, sort_keys=True) + "\n")

    # 6. the JSON export through import → validate → ingest; JSON_MIN refused with what to do
    export = ls.admin.get(f"/api/projects/{project}/export", params={"exportType": "JSON", "download_all_tasks": "true"})
    assert export.status_code == 200, export.text[:500]
    export_path = tmp_path / "export.json"
    export_path.write_bytes(export.content)
    batch = tmp_path / "batch.jsonl"
    r = runner.invoke(cli, ["import", "labelstudio", str(export_path), "--batch-id", "ls-live-1", "--out", str(batch),
                            "--config", str(config_path), "--format", "json"])
    assert r.exit_code == 0, (r.output, r.exception)
    rows = [json.loads(line) for line in batch.read_text().splitlines()]
    by_rater = sorted((row["rater_id"], row["item_id"], row["choice"], bool(row.get("is_gold"))) for row in rows)
    admin_id = answers["admin-task1"]["completed_by"]
    assert by_rater == sorted([
        (f"ls-{user_id}", f"ls-task-{tasks[0]['id']}", "b", True),  # task 0 is gold: the admin's ground truth
        (f"ls-{admin_id}", f"ls-task-{tasks[1]['id']}", "a", False),  # the updated answer; rater 2's was deleted
        (f"ls-{user_id}", f"ls-task-{tasks[2]['id']}", "skip", False),  # the cancelled annotation
    ]), rows
    r = runner.invoke(cli, ["validate", str(batch), "--config", str(config_path), "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["accepted"] is True, r.output
    r = runner.invoke(cli, ["ingest", str(batch), "--vendor", "acme", "--config", str(config_path), "--format", "json"])
    assert r.exit_code == 0, (r.output, r.exception)
    assert (tmp_path / "datasets_manifest" / "batches" / "acme" / "ls-live-1.yaml").is_file()

    json_min = ls.admin.get(f"/api/projects/{project}/export", params={"exportType": "JSON_MIN", "download_all_tasks": "true"})
    assert json_min.status_code == 200
    min_path = tmp_path / "export-min.json"
    min_path.write_bytes(json_min.content)
    if os.environ.get("ALIGNMENT_CI_LABELSTUDIO_CAPTURE"):
        Path(os.environ["ALIGNMENT_CI_LABELSTUDIO_CAPTURE"], "export-json-min.json").write_bytes(json_min.content)
    r = runner.invoke(cli, ["import", "labelstudio", str(min_path), "--batch-id", "ls-live-2", "--out", str(tmp_path / "m.jsonl"),
                            "--config", str(config_path)])
    assert r.exit_code != 0 and re.search(r"export as JSON \(not JSON_MIN\)", str(r.exception)), (r.output, r.exception)
