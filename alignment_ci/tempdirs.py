"""Temporary directories that a crashed process does not leave behind for good.

Raw uploads (before PII scrubbing) and partial Parquet files live in temporary
directories while a batch is validated. A ``finally`` removes them, but a process killed
with ``kill -9`` never runs it. Each directory is therefore named
``<prefix><pid>-<random>``, and :func:`sweep_stale` (run when the bridge or ``ingest``
starts) removes every directory of that prefix whose process is gone, or that is older
than ``max_age_s`` whatever its owner (a pid can be reused).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def make_tempdir(prefix: str, parent: str | os.PathLike[str] | None = None) -> Path:
    """A new private directory ``<parent>/<prefix><pid>-<random>`` (mode 0700)."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))


@contextlib.contextmanager
def tempdir(prefix: str, parent: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """:func:`make_tempdir`, removed when the block ends, however it ends."""
    path = make_tempdir(prefix, parent)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def sweep_stale(prefix: str, parent: str | os.PathLike[str] | None = None, *, max_age_s: float = 24 * 3600) -> list[Path]:
    """Remove ``<prefix>*`` directories under ``parent`` (the system temp dir by default) left by
    processes that no longer run, or older than ``max_age_s``; returns what was removed."""
    root = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    removed = []
    now = time.time()
    for path in root.glob(f"{prefix}*"):
        if not path.is_dir() or path.is_symlink():
            continue
        pid_text = path.name[len(prefix):].split("-", 1)[0]
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        owner_gone = pid_text.isdigit() and int(pid_text) != os.getpid() and not _alive(int(pid_text))
        if owner_gone or age > max_age_s:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
