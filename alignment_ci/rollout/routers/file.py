"""The ``file`` router (embedded default): a JSON routing table on local disk.

Writes are atomic: the table goes to a temporary file in the same directory, is
fsync'ed, and replaces the old one with ``os.replace``, so a serving layer polling
the file sees the old table or the new one, never a torn write.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ...atomic import write_atomic
from ...errors import InputError, StoreError
from .base import RoutingTable, check_table, same_table


class FileRouter:
    """Routing table at ``path`` (created with its directory when absent)."""

    kind = "file"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def describe(self) -> str:
        return f"file:{self.path}"

    def current(self) -> RoutingTable | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            table = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{self.path}: routing table is not valid JSON ({exc}); fix or delete it") from None
        return table if isinstance(table, dict) else None

    def apply(self, table: RoutingTable) -> bool:
        check_table(table)
        if same_table(self.current(), table):
            return False
        self._write(table)
        return True

    def _write(self, table: RoutingTable) -> None:
        data = json.dumps(table, sort_keys=True, indent=2) + "\n"
        try:
            write_atomic(self.path, data)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot write the routing table ({exc})") from None
