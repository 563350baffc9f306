"""Write a directory all at once: build it beside the target, then rename it into place.

A crash leaves at most a hidden ``.NAME.tmp-*`` sibling, never a half-written ``NAME``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import InputError


def refuse_existing_output(target: Path) -> None:
    """Outputs are write-once: an existing, non-empty ``target`` is an :class:`InputError`."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(
            f"{target}: output directory already exists and is not empty; "
            "choose a new path or remove it first (outputs are written once)"
        )


@contextmanager
def atomic_output_dir(target: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory that becomes ``target`` when the block succeeds.

    ``target`` must not exist or be an empty directory (outputs are write-once). On an
    exception the temporary directory is removed and ``target`` is left untouched.
    """
    target = Path(target)
    refuse_existing_output(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        yield tmp
        if target.exists():
            target.rmdir()  # empty, checked above
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
