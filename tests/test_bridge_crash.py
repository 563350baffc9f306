"""Crash recovery (issue 10, finding 6): a real bridge process (`alignment-ci bridge serve`) is
killed (os._exit, as kill -9) right after each step of the publish path, restarted, and the
vendor pushes the same file again: exactly one batch, one pull request and one lineage entry;
no wait for a dead publisher; no raw upload left in the temporary directory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import select

from alignment_ci.config import Config
from alignment_ci.forge.local import LocalForge
from alignment_ci.lineage import LineageLog
from alignment_ci.store import open_store
from rater_bridge.app import open_bridge
from rater_bridge.auth import add_vendor
from rater_bridge.batches import CRASH_ENV, PUBLISH_STEPS, UPLOAD_TEMP_PREFIX
from rater_bridge.db import Batch, make_engine
from tests.test_bridge import pairwise

# Every step in `make test-slow`: two start-ups of a real bridge process each (~10-30 s).
STEPS = [pytest.param(step, marks=pytest.mark.slow) for step in PUBLISH_STEPS]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BridgeProcess:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.port = root, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(root / f"bridge-{self.port}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "alignment_ci.cli", "bridge", "serve", "--port", str(self.port)],
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while True:
            assert self.proc.poll() is None, (root / f"bridge-{self.port}.log").read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the bridge did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture
def workspace(tmp_path: Path):
    # publish_wait_s of an hour: a push that waited for a dead publisher would time the test out.
    (tmp_path / "alignment.yaml").write_text(yaml.safe_dump({"bridge": {"publish_wait_s": 3600}}))
    (tmp_path / "tmp").mkdir()
    config = Config()
    config._root = tmp_path
    bridge = open_bridge(config, workspace=tmp_path)
    with bridge.sessions() as s:
        token = add_vendor(s, "acme")[1]
    bridge.dispose()
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "HF_HUB_OFFLINE": "1"}
    env.pop(CRASH_ENV, None)
    env.pop("ALIGNMENT_CI_BRIDGE_DATABASE_URL", None)
    return tmp_path, config, token, env


def _push(url: str, token: str, body: bytes, timeout: float = 60) -> httpx.Response:
    return httpx.post(f"{url}/v1/batches", params={"format": "jsonl"}, content=body,
                      headers={"Authorization": f"Bearer {token}"}, timeout=timeout)


@pytest.mark.parametrize("step", STEPS)
def test_a_publish_killed_after_any_step_recovers_to_one_batch_one_pr_one_lineage_entry(workspace, step: str) -> None:
    root, config, token, env = workspace
    body = pairwise("crash-batch", n_items=8)

    crashing = BridgeProcess(root, {**env, CRASH_ENV: step})
    with pytest.raises(httpx.TransportError):  # the process dies mid-request
        _push(crashing.url, token, body)
    assert crashing.proc.wait(timeout=60) == 137
    crashing.stop()
    leftovers = list((root / "tmp").glob(f"{UPLOAD_TEMP_PREFIX}{crashing.proc.pid}-*"))
    assert leftovers and any(p.glob("upload.*") for p in leftovers)  # the raw upload, before PII scrubbing

    restarted = BridgeProcess(root, env)
    try:
        assert list((root / "tmp").glob(f"{UPLOAD_TEMP_PREFIX}*")) == []  # swept on start
        engine = make_engine(config.bridge.database_url.replace("sqlite:///", f"sqlite:///{root}/"))
        with engine.connect() as conn:
            (status,) = conn.execute(select(Batch.status)).one()
        engine.dispose()
        assert status == ("pr_open" if step == "marked" else "failed")  # rolled back, not left 'received'

        again = _push(restarted.url, token, body)
        assert again.status_code == (200 if step == "marked" else 201), again.text
        answer = again.json()
        assert answer["accepted"] and answer["status"] == "pr_open" and answer["pr"]["number"] == 1
        # The same file a third time: the published batch, nothing new.
        third = _push(restarted.url, token, body)
        assert third.status_code == 200 and third.json()["duplicate"] and third.json()["pr"] == answer["pr"]
    finally:
        restarted.stop()

    engine = make_engine(config.bridge.database_url.replace("sqlite:///", f"sqlite:///{root}/"))
    with engine.connect() as conn:
        rows = conn.execute(select(Batch.batch_id, Batch.status)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("crash-batch", "pr_open")]
    assert list(LocalForge.for_workspace(root).pull_requests()) == ["labels/acme/crash-batch"]
    log = LineageLog(open_store(config))
    ingests = [e for e in log.entries() if e.kind == "ingest"]
    assert len(ingests) == 1 and ingests[0].data["batch_id"] == "crash-batch"
    assert log.verify().ok


def test_a_duplicate_push_takes_over_a_stalled_claim_counted_from_claimed_at(tmp_path: Path) -> None:
    """A claim older than publish_wait_s is taken over at once (it used to wait publish_wait_s
    more, counted from the new push)."""
    from datetime import timedelta

    from rater_bridge.db import utcnow
    from tests.test_bridge import make_env

    env = make_env(tmp_path, f"sqlite:///{tmp_path / 'b.db'}")
    env.config.bridge.publish_wait_s = 3600
    body = pairwise("stalled", n_items=8)
    first = env.push("acme", body)
    assert first.status_code == 201
    bridge = env.app.state.bridge
    with bridge.sessions() as s:  # as if a live publisher had claimed it long ago and stalled
        row = s.scalar(select(Batch))
        row.status, row.claimed_at = "received", utcnow() - timedelta(hours=2)
        s.commit()
    again = env.push("acme", body)  # same content: waits for, or takes over, the claim
    assert again.status_code == 201 and again.json()["pr"]["number"] == first.json()["pr"]["number"]
    assert [e.kind for e in LineageLog(open_store(env.config)).entries()] == ["ingest"]
    env.client.close()
    bridge.dispose()


def test_the_lineage_append_with_a_once_key_is_idempotent(tmp_path: Path) -> None:
    config = Config()
    config._root = tmp_path
    log = LineageLog(open_store(config))
    first = log.append("ingest", "a" * 64, ["b" * 64], {"batch_id": "x"}, once="k1")
    again = LineageLog(open_store(config)).append("ingest", "a" * 64, ["b" * 64], {"batch_id": "x"}, once="k1")
    assert again == first and len(log.entries()) == 1
    # A crash between the append and its .done mark: the retry finds the entry in the tail.
    store = open_store(config)
    done = Path(config.resolve(config.stores.artifacts.path)).rglob("k1.done.json")
    for path in done:
        path.unlink()
    assert store.get_record("lineage-once", "k1.done") is None
    assert LineageLog(store).append("ingest", "a" * 64, ["b" * 64], {"batch_id": "x"}, once="k1") == first
    assert len(log.entries()) == 1 and json.loads(json.dumps(first.data))["once"] == "k1"
