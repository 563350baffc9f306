"""JSON Lines of objects, read with errors that name the file and the 1-based line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
