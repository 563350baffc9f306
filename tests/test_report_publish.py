"""Publishing the report: the local forge (embedded default) and GitHub's REST API (a real
HTTP server on 127.0.0.1, tests/github_server.py): one sticky comment edited on rerun, the
commit status from the gate verdict, and the `alignment-ci report` command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alignment_ci.commands.report import app as report_app
from alignment_ci.forge import local_forge_dir
from alignment_ci.forge.base import COMMENT_MAX_CHARS, comment_marker
from alignment_ci.forge.local import LocalForge
from alignment_ci.report.collect import build_report
from tests.github_server import GitHubAPIServer, github_server  # noqa: F401
from tests.test_report import ZWJ, _config, _pr_env, workspace, write_gate_results  # noqa: F401

HEAD = "1234567890abcdef1234567890abcdef12345678"


@pytest.fixture
def ws(workspace, tmp_path) -> Path:
    """A private copy of the report workspace (publishing writes into it)."""
    copy = tmp_path / "ws"
    shutil.copytree(workspace, copy)
    return copy


def test_local_forge_rerun_edits_the_same_comment_and_status_follows_the_verdict(ws, tmp_path):
    config = _config(ws)
    env = _pr_env(tmp_path, 7, HEAD)
    first = build_report(config, publish=True, environ=env)["published"]
    forge = LocalForge(local_forge_dir(ws))
    assert first["forge"] == "local" and first["pr"] == 7 and first["comment"]["created"] is True
    body = forge.read_comment(7, "report")
    assert body.startswith(comment_marker("report") + "\n## ❌ Do not merge: blocked by regression/all (fail)\n")
    assert "@org/team" not in body and f"@{ZWJ}org/team" in body
    assert forge.statuses(HEAD)["alignment-ci/gates"]["state"] == "failure"
    assert forge.statuses(HEAD)["alignment-ci/gates"]["description"] == "alignment-ci: 6 gate(s): 4 pass, 2 fail; blocking: regression/all"
    checks = json.loads((forge.root / "checks" / f"{HEAD}.json").read_text())["check_runs"]
    assert [(c["conclusion"], c["title"]) for c in checks] == [("failure", "Gates failed")]

    write_gate_results(ws, "pass")
    second = build_report(config, publish=True, environ=env)["published"]
    assert second["comment"]["id"] == first["comment"]["id"] and second["comment"]["created"] is False
    assert second["comment"]["changed"] is True
    assert forge.read_comment(7, "report").startswith(comment_marker("report") + "\n## ✅ Merge: every blocking gate passed")
    assert forge.statuses(HEAD)["alignment-ci/gates"]["state"] == "success"  # the shadow gate's failure does not block
    index = json.loads((forge.root / "comments" / "index.json").read_text())
    assert list(index) == ["7/report"] and index["7/report"]["revisions"] == 2


def test_local_run_without_a_pull_request_files_under_pr_0(ws):
    published = build_report(_config(ws), publish=True, environ={})["published"]
    assert published["pr"] == 0 and published["status"] is None  # no commit known outside git and Actions
    assert LocalForge(local_forge_dir(ws)).read_comment(0, "report").startswith(comment_marker("report"))


def _github_env(server: GitHubAPIServer, tmp: Path, pr: int, head: str) -> dict[str, str]:
    return _pr_env(
        tmp, pr, head,
        ALIGNMENT_CI_FORGE="github", GITHUB_TOKEN=server.token, GITHUB_API_URL=server.url,
        GITHUB_REPOSITORY=server.full_name, GITHUB_SERVER_URL=server.html_root, GITHUB_RUN_ID="4242",
    )


def test_github_rerun_edits_the_same_comment_and_failing_gate_sets_failure(ws, tmp_path, github_server):
    pr, head = github_server.add_pull_request()
    env = _github_env(github_server, tmp_path, pr, head)
    run_url = f"{github_server.html_root}/{github_server.full_name}/actions/runs/4242"
    first = build_report(_config(ws), publish=True, environ=env)
    assert first["published"]["forge"] == "github" and first["published"]["check_run"] is None  # no App credentials
    statuses = github_server.statuses_for(head)
    assert [(s["context"], s["state"], s["target_url"]) for s in statuses] == [("alignment-ci/gates", "failure", run_url)]

    write_gate_results(ws, "pass")
    build_report(_config(ws), publish=True, environ=env)
    comments = github_server.comments_on(pr)
    assert len(comments) == 1
    assert comments[0]["body"].startswith(comment_marker("report") + "\n## ✅ Merge: every blocking gate passed")
    assert f"[full HTML report]({run_url}#artifacts)" in comments[0]["body"]
    assert len(comments[0]["body"]) <= COMMENT_MAX_CHARS
    assert len(github_server.calls("POST", f"/repos/{github_server.full_name}/issues/{pr}/comments")) == 1
    assert len(github_server.calls("PATCH", f"/repos/{github_server.full_name}/issues/comments/")) == 1
    assert [s["state"] for s in github_server.statuses_for(head)] == ["success", "failure"]  # newest first


def test_cli_report_renders_and_publishes(ws, tmp_path, monkeypatch):
    (ws / "alignment.yaml").write_text("project: hostile-demo\n")
    for var in ("GITHUB_EVENT_PATH", "GITHUB_SHA", "GITHUB_STEP_SUMMARY", "GITHUB_RUN_ID", "ALIGNMENT_CI_FORGE"):
        monkeypatch.delenv(var, raising=False)
    runner = CliRunner()
    result = runner.invoke(report_app, ["--config", str(ws / "alignment.yaml"), "--publish", "--out", str(tmp_path / "out"),
                                        "--batch", str(ws / "incoming" / "hostile-001.jsonl"), "--format", "json"])
    assert result.exit_code == 0, result.output  # a failing gate is reported, not enforced here
    data = json.loads(result.stdout)
    assert data["verdict"] == "fail" and data["published"]["pr"] == 0
    assert Path(data["files"]["html"]) == tmp_path / "out" / "report.html"
    assert (tmp_path / "out" / "report.md").read_text().startswith("## ❌ Do not merge: blocked by regression/all (fail)\n\n**hostile-demo**")
    text = runner.invoke(report_app, ["--config", str(ws / "alignment.yaml"), "--out", str(tmp_path / "out2")])
    assert text.exit_code == 0
    assert "verdict: fail — 6 gate(s): 4 pass, 2 fail; blocking: regression/all" in text.stdout
    assert f"html:         {tmp_path / 'out2' / 'report.html'}" in text.stdout


def test_cli_report_rejects_a_malformed_results_file(ws, tmp_path):
    bad = tmp_path / "results.json"
    bad.write_text('{"gates": [{"outcome": "pass"}]}')
    (ws / "alignment.yaml").write_text("project: hostile-demo\n")
    result = CliRunner().invoke(report_app, ["--config", str(ws / "alignment.yaml"), "--gates-results", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert "gate result #1 needs at least 'gate' and 'outcome'" in str(result.exception)


def test_a_failed_stage_without_gate_results_sets_failure_not_pending(ws, tmp_path):
    config = _config(ws)
    env = _pr_env(tmp_path, 9, HEAD)
    none = build_report(config, publish=True, environ=env, gate_results=tmp_path / "missing.json")
    assert none["state"] == "pending"  # nothing ran and nothing failed: not decided
    failed = build_report(config, publish=True, environ=env, gate_results=tmp_path / "missing.json", failed_stages=["validate"])
    assert failed["verdict"] == "fail" and failed["state"] == "failure"
    forge = LocalForge(local_forge_dir(ws))
    assert forge.statuses(HEAD)["alignment-ci/gates"]["state"] == "failure"
    assert "the validate stage failed before the gates could decide" in forge.read_comment(9, "report")
