"""`alignment-ci bridge`: vendor tokens, batch outcomes, and `serve` as a real process."""

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
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rater_bridge.cli import app
from alignment_ci.config import load_config
from alignment_ci.errors import InputError
from rater_bridge.app import create_app
from tests.test_bridge import pairwise

runner = CliRunner()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "alignment.yaml"
    path.write_text("bridge:\n  database_url: sqlite:///state/bridge.db\n")
    return path


def test_vendor_add_prints_a_working_token_once(config_file: Path) -> None:
    result = runner.invoke(app, ["vendor", "add", "acme", "--config", str(config_file), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"vendor", "token"} and data["vendor"] == "acme"
    assert (config_file.parent / "state" / "bridge.db").is_file()
    text = runner.invoke(app, ["vendor", "add", "globex", "--config", str(config_file)])
    assert text.exit_code == 0 and text.stdout.strip().startswith("acb_") and len(text.stdout.strip()) == 47
    again = runner.invoke(app, ["vendor", "add", "acme", "--config", str(config_file)])
    assert isinstance(again.exception, InputError) and "already exists" in str(again.exception)
    listed = json.loads(runner.invoke(app, ["vendor", "list", "--config", str(config_file), "--format", "json"]).stdout)
    assert [(v["vendor"], len(v["tokens"])) for v in listed] == [("acme", 1), ("globex", 1)]
    assert data["token"] not in json.dumps(listed)

    client = TestClient(create_app(load_config(config_file)))
    headers = {"Authorization": f"Bearer {data['token']}"}
    assert client.post("/v1/batches", content=pairwise("cli-1"), headers=headers).status_code == 201
    marked = runner.invoke(app, ["mark", "acme", "cli-1", "merged", "--config", str(config_file), "--format", "json"])
    assert json.loads(marked.stdout)["status"] == "merged"
    assert client.get("/v1/batches/cli-1", headers=headers).json()["status"] == "merged"
    sla = runner.invoke(app, ["sla", "--config", str(config_file), "--format", "json"])
    report = json.loads(sla.stdout)
    acme = report["vendors"]["acme"]
    assert (acme["batches"], acme["accepted"], acme["pending"], acme["decisions"]) == (1, 1, 0, 36)
    checked = runner.invoke(app, ["sla", "--check", "--config", str(config_file), "--format", "json"])
    assert checked.exit_code == (0 if report["ok"] else 1)

    revoked = runner.invoke(app, ["vendor", "revoke", "acme", "--config", str(config_file), "--format", "json"])
    assert json.loads(revoked.stdout) == {"vendor": "acme", "revoked": 1}
    assert client.get("/v1/batches/cli-1", headers=headers).status_code == 401


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_runs_uvicorn_with_json_access_logs(config_file: Path) -> None:
    token = json.loads(runner.invoke(app, ["vendor", "add", "acme", "--config", str(config_file), "--format", "json"]).stdout)["token"]
    port = _free_port()
    code = "from rater_bridge.cli import app; app()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--host", "127.0.0.1", "--port", str(port), "--config", str(config_file)],
        cwd=config_file.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() is not None else "timeout"
            time.sleep(0.1)
        r = httpx.get(f"http://127.0.0.1:{port}/v1/batches/x", params={"email": "jane@example.com"},
                      headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 404
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    access = [json.loads(line) for line in stderr.splitlines() if line.startswith('{"')]
    assert {(a["route"], a["status"], a["vendor"]) for a in access if a["route"] == "/healthz"} == {("/healthz", 200, None)}
    assert [(a["method"], a["route"], a["status"], a["vendor"]) for a in access if a["route"] != "/healthz"] == [
        ("GET", "/v1/batches/{batch_id}", 404, "acme")]
    assert "jane@example.com" not in stderr and token not in stderr and "127.0.0.1:" not in stderr.replace(f"127.0.0.1:{port}", "")


def test_bridge_group_is_mounted_through_its_entry_point():
    """alignment_ci never imports rater_bridge: `bridge` arrives through the
    `alignment_ci.commands` entry point that rater_bridge's pyproject entry declares."""
    from importlib.metadata import entry_points

    import typer

    from alignment_ci.cli import app as main_app

    (entry,) = [e for e in entry_points(group="alignment_ci.commands") if e.name == "bridge"]
    assert entry.value == "rater_bridge.cli:app"
    group = typer.main.get_command(main_app)
    bridge = group.get_command(typer.Context(group), "bridge")
    assert set(bridge.commands) >= {"serve", "vendor", "mark", "sla"}
