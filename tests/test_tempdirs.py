"""Temporary directories of killed processes are swept (issue 10, finding 6)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alignment_ci.config import Config
from alignment_ci.data.manifest import INGEST_TEMP_PREFIX, ingest_batch
from alignment_ci.synth import make_pairwise_batch, write_jsonl
from alignment_ci.tempdirs import make_tempdir, sweep_stale, tempdir


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_only_directories_of_dead_processes_are_swept(tmp_path: Path) -> None:
    dead = tmp_path / f"rater-bridge-{_dead_pid()}-abc"
    dead.mkdir()
    (dead / "upload.jsonl").write_text("raw, unscrubbed")
    mine = make_tempdir("rater-bridge-", tmp_path)
    other_prefix = tmp_path / f"something-{_dead_pid()}-x"
    other_prefix.mkdir()
    assert sweep_stale("rater-bridge-", tmp_path) == [dead]
    assert not dead.exists() and mine.exists() and other_prefix.exists()
    old = tmp_path / "rater-bridge-oldstyle"
    old.mkdir()
    os.utime(old, (0, 0))  # no pid in the name, but older than max_age_s
    assert sweep_stale("rater-bridge-", tmp_path, max_age_s=3600) == [old]


def test_tempdir_is_removed_when_its_block_fails(tmp_path: Path) -> None:
    try:
        with tempdir("x-", tmp_path) as path:
            (path / "partial.parquet").write_bytes(b"PAR1")
            raise RuntimeError("crash in the middle")
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []


def test_ingest_sweeps_partial_parquet_left_by_a_killed_ingest(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    left = tmp_path / "tmp" / f"{INGEST_TEMP_PREFIX}{_dead_pid()}-zz"
    left.mkdir()
    (left / "batch.parquet").write_bytes(b"PAR1 partial")
    config = Config()
    config._root = tmp_path
    batch = write_jsonl(make_pairwise_batch(batch_id="b-1", n_items=4, seed=1), tmp_path / "b.jsonl")
    assert ingest_batch(batch, "acme", config).accepted
    assert list((tmp_path / "tmp").iterdir()) == []
