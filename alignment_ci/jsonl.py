"""JSON Lines of objects: read with errors that name the file and the 1-based line, and
written all at once (:func:`write_jsonl`, on :func:`alignment_ci.atomic.write_atomic`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .atomic import write_atomic
from .errors import InputError


def parse_objects(text: str, source: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """``(line, object)`` for every non-blank line of ``text``."""
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}:{lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise InputError(f"{source}:{lineno}: each line must be a JSON object")
        rows.append((lineno, row))
    return rows


def read_objects(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """``(line, object)`` for every non-blank line of the JSONL file ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    return parse_objects(text, path)


def write_jsonl(rows: Iterable[Mapping[str, Any]], path: str | Path, *, append: bool = False) -> Path:
    """Write ``rows`` as JSON Lines, one object per line, all at once: a crash leaves the old
    file (or none), never half of it. With ``append``, the rows follow the file's current lines
    (the whole file is rewritten, atomically).

    Text is written raw (UTF-8, not escaped for display): these files are data, and whoever
    renders them escapes at that point. NaN and infinity are refused (they are not JSON).
    """
    path = Path(path)
    lines = "".join(json.dumps(dict(row), ensure_ascii=False, allow_nan=False) + "\n" for row in rows)
    if append and path.exists():
        current = path.read_text(encoding="utf-8")
        if current and not current.endswith("\n"):
            current += "\n"
        lines = current + lines
    return write_atomic(path, lines)
