"""The local forge: what would be published, written as files under the workspace."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from alignment_ci.config import Config
from alignment_ci.forge import Forge, ForgeError, ForgeSettings, comment_marker, open_forge
from alignment_ci.forge.local import LocalForge

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def forge(tmp_path: Path) -> LocalForge:
    return LocalForge.for_workspace(tmp_path)


def test_open_forge_defaults_to_local_under_the_workspace(tmp_path: Path) -> None:
    forge = open_forge(Config(), tmp_path, environ={})
    assert isinstance(forge, LocalForge) and isinstance(forge, Forge)
    assert forge.root == tmp_path / ".alignment-ci" / "forge"
    assert open_forge(None, tmp_path, environ={}).root == forge.root
    custom = open_forge(ForgeSettings(local_path="out/forge"), tmp_path, environ={})
    assert custom.root == tmp_path / "out" / "forge"


def test_unknown_forge_kind_from_the_environment_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ForgeError, match="unknown forge 'gitlab'"):
        open_forge(None, tmp_path, environ={"ALIGNMENT_CI_FORGE": "gitlab"})


def test_rerun_rewrites_the_same_comment_file(forge: LocalForge) -> None:
    first = forge.upsert_comment(7, "report", "Gates: 1 failed")
    second = forge.upsert_comment(7, "report", "Gates: all passed")
    third = forge.upsert_comment(7, "report", "Gates: all passed")
    assert [(r.id, r.created, r.changed) for r in (first, second, third)] == [
        (1, True, True), (1, False, True), (1, False, False)
    ]
    path = forge.root / "comments" / "7" / "report.md"
    assert path.read_text(encoding="utf-8") == "<!-- alignment-ci:report:report -->\nGates: all passed"
    index = json.loads((forge.root / "comments" / "index.json").read_text())
    assert list(index) == ["7/report"]
    assert (index["7/report"]["revisions"], index["7/report"]["path"]) == (2, "comments/7/report.md")
    assert first.url == path.resolve().as_uri()


def test_kinds_and_pull_requests_get_separate_comments(forge: LocalForge) -> None:
    a = forge.upsert_comment(1, "report", "r")
    b = forge.upsert_comment(1, "quality", "q")
    c = forge.upsert_comment(2, "report", "r2")
    assert (a.id, b.id, c.id) == (1, 2, 3)
    assert forge.read_comment(1, "quality") == comment_marker("quality") + "\nq"
    assert forge.read_comment(3, "report") is None


def test_body_that_already_has_the_marker_is_not_marked_twice(forge: LocalForge) -> None:
    forge.upsert_comment(1, "report", comment_marker("report") + "\nbody")
    assert forge.read_comment(1, "report") == comment_marker("report") + "\nbody"


@pytest.mark.parametrize("kind", ["", "Report", "a b", "x-->", "../up", "k" * 65])
def test_invalid_kinds_are_refused(forge: LocalForge, kind: str) -> None:
    with pytest.raises(ForgeError, match="invalid report kind"):
        forge.upsert_comment(1, kind, "x")
    assert not (forge.root / "comments").exists()


def test_failing_gate_status_is_recorded_per_context(forge: LocalForge) -> None:
    forge.set_status(SHA, "pending", "gates running")
    forge.set_status(SHA, "failure", "1 of 4 gates failed", target_url="file:///tmp/report.html")
    forge.set_status(SHA, "success", "data valid", context="alignment-ci/validate")
    statuses = forge.statuses(SHA)
    assert statuses["alignment-ci/gates"]["state"] == "failure"
    assert statuses["alignment-ci/gates"]["target_url"] == "file:///tmp/report.html"
    assert statuses["alignment-ci/validate"]["state"] == "success"
    doc = json.loads((forge.root / "statuses" / f"{SHA}.json").read_text())
    assert [h["state"] for h in doc["history"]] == ["pending", "failure", "success"]


def test_status_arguments_are_checked_like_github(forge: LocalForge) -> None:
    with pytest.raises(ForgeError, match="invalid commit status state 'failed'"):
        forge.set_status(SHA, "failed", "x")
    with pytest.raises(ForgeError, match="invalid commit sha 'HEAD'"):
        forge.set_status("HEAD", "success", "x")
    assert forge.set_status(SHA, "success", "y" * 200)["description"] == "y" * 139 + "…"


def test_check_runs_are_appended(forge: LocalForge) -> None:
    r1 = forge.create_check_run(SHA, "failure", "2 gates failed", "| gate | result |")
    r2 = forge.create_check_run(SHA, "success", "all passed", "ok", text="details")
    doc = json.loads((forge.root / "checks" / f"{SHA}.json").read_text())
    assert (r1.id, r2.id) == (1, 2)
    assert [(c["conclusion"], c["title"]) for c in doc["check_runs"]] == [
        ("failure", "2 gates failed"), ("success", "all passed")
    ]


def test_open_pull_request_is_idempotent_and_writes_files(forge: LocalForge) -> None:
    files = {"labels/b-001.jsonl": b'{"a": 1}\n', "datasets_manifest/batches/acme/b-001.yaml": b"batch_id: b-001\n"}
    first = forge.open_pull_request("labels/acme/b-001", "main", "Label batch b-001", "from acme", files)
    second = forge.open_pull_request("labels/acme/b-001", "main", "Label batch b-001", "from acme", files)
    other = forge.open_pull_request("labels/acme/b-002", "main", "Label batch b-002", "", {"x.jsonl": b"1\n"})
    assert (first.number, first.created, second.number, second.created) == (1, True, 1, False)
    assert other.number == 2
    for path, content in files.items():
        assert (forge.root / "prs" / "1" / "files" / path).read_bytes() == content
    pulls = forge.pull_requests()
    assert pulls["labels/acme/b-001"]["files"] == sorted(files)
    assert pulls["labels/acme/b-001"]["state"] == "open"


@pytest.mark.parametrize("bad", ["../escape.txt", "/etc/passwd", "a/../../b", ".git/config", "a\\b", "a//b", ""])
def test_pull_request_paths_cannot_escape(forge: LocalForge, bad: str) -> None:
    with pytest.raises(ForgeError, match="invalid file path"):
        forge.open_pull_request("labels/x", "main", "t", "b", {bad: b"x"})
    assert not (forge.root / "prs").exists()


def test_pull_request_onto_itself_is_refused(forge: LocalForge) -> None:
    with pytest.raises(ForgeError, match="onto itself"):
        forge.open_pull_request("main", "main", "t", "b", {"a": b"x"})


def test_deployments_and_statuses(forge: LocalForge) -> None:
    d1 = forge.create_deployment("main", "canary", {"stage": 1, "percent": 2.0})
    d2 = forge.create_deployment("main", "production", {"stage": 4, "percent": 100.0})
    forge.set_deployment_status(d1, "in_progress", "canary at 2%")
    forge.set_deployment_status(d1, "failure", "rolled back: safety regression")
    record = forge.deployment(d1)
    assert (d1, d2) == (1, 2)
    assert record["payload"] == {"stage": 1, "percent": 2.0}
    assert [s["state"] for s in record["statuses"]] == ["in_progress", "failure"]
    assert forge.deployment(d2)["statuses"] == []
    with pytest.raises(ForgeError, match="deployment 9 not found"):
        forge.set_deployment_status(9, "success", "x")


def test_a_crash_while_writing_keeps_the_previous_comment(forge: LocalForge, monkeypatch) -> None:
    forge.upsert_comment(1, "report", "published")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        forge.upsert_comment(1, "report", "half-written")
    monkeypatch.undo()
    assert forge.read_comment(1, "report") == comment_marker("report") + "\npublished"
    leftovers = [p.name for p in forge.root.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    assert json.loads((forge.root / "comments" / "index.json").read_text())["1/report"]["revisions"] == 1


def test_corrupt_index_names_the_file(forge: LocalForge) -> None:
    (forge.root / "comments").mkdir(parents=True)
    (forge.root / "comments" / "index.json").write_text("{not json")
    with pytest.raises(ForgeError, match=r"comments/index.json: not valid JSON"):
        forge.upsert_comment(1, "report", "x")
