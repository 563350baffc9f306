"""alignment_ci.data.changes: the batches a pull request adds or changes, fetched from the store."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from alignment_ci.config import load_config
from alignment_ci.data.changes import changed_batches
from alignment_ci.data.manifest import ingest_batch
from alignment_ci.errors import InputError
from alignment_ci.jsonl import write_jsonl
from alignment_ci.synth import make_pairwise_batch

ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@example.com"}


def _git(ws: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=ws, check=True, capture_output=True, text=True, env=ENV).stdout.strip()


def _ingest(ws: Path, batch_id: str, seed: int) -> None:
    path = write_jsonl(make_pairwise_batch(batch_id=batch_id, n_items=20, seed=seed), ws / "incoming" / f"{batch_id}.jsonl")
    assert ingest_batch(path, "acme", load_config(ws / "alignment.yaml")).accepted


def test_lists_added_batches_since_the_merge_base_and_fetches_them(tmp_path):
    ws = tmp_path
    (ws / "alignment.yaml").write_text("project: t\n")
    (ws / ".gitignore").write_text(".alignment-ci/\nincoming/\n")
    _git(ws, "init", "-q", "-b", "main")
    _ingest(ws, "old-batch", 1)
    _git(ws, "add", "-A")
    _git(ws, "commit", "-qm", "base")
    base = _git(ws, "rev-parse", "HEAD")
    _git(ws, "checkout", "-qb", "vendor")
    _ingest(ws, "new-batch", 2)
    _git(ws, "add", "-A")
    _git(ws, "commit", "-qm", "new batch")
    _git(ws, "checkout", "-q", "main")  # main moves on: its change is not the PR's
    (ws / "datasets_manifest" / "batches" / "acme" / "old-batch.yaml").unlink()
    _git(ws, "commit", "-qam", "drop old batch on main")
    _git(ws, "checkout", "-q", "vendor")

    config = load_config(ws / "alignment.yaml")
    result = changed_batches(config, "main", "HEAD", fetch_to=ws / "fetched")
    assert [(b["batch_id"], b["vendor"], b["manifest"]) for b in result["batches"]] == [
        ("new-batch", "acme", "datasets_manifest/batches/acme/new-batch.yaml")]
    fetched = Path(result["batches"][0]["file"])
    assert hashlib.sha256(fetched.read_bytes()).hexdigest() == result["batches"][0]["sha256"]
    assert changed_batches(config, base, base)["batches"] == []


def test_unknown_base_says_to_fetch_history(tmp_path):
    (tmp_path / "alignment.yaml").write_text("project: t\n")
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "commit", "-q", "--allow-empty", "-m", "one")
    with pytest.raises(InputError, match="fetch-depth: 0"):
        changed_batches(load_config(tmp_path / "alignment.yaml"), "0" * 40)
