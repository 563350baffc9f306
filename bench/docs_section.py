"""Replace one `## Title` section of docs/benchmarks.md, keeping the others (shared by the benchmarks)."""

from __future__ import annotations

import re
from pathlib import Path


def replace_section(path: Path, title: str, section: str) -> None:
    """Write ``section`` (starting with ``## title``) in place of the old one, or append it."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
