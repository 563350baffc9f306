"""Write one report's files: Markdown comment, step summary, HTML, CSV tables."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data import ReportData
from .html import render_html
from .markdown import render_markdown, render_step_summary
from .tables import write_csv_tables


@dataclass
class ReportFiles:
    """Where the outputs went, and how long rendering took (seconds per output)."""

    markdown: Path
    summary: Path
    html: Path
    csv: dict[str, Path]
    step_summary: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "markdown": str(self.markdown),
            "summary": str(self.summary),
            "html": str(self.html),
            "csv": {k: str(v) for k, v in self.csv.items()},
            "step_summary": str(self.step_summary) if self.step_summary else None,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_report(
    data: ReportData,
    out_dir: str | os.PathLike[str],
    *,
    step_summary: str | os.PathLike[str] | None = None,
) -> ReportFiles:
    """Render ``data`` into ``out_dir`` (created). ``step_summary``: a file to append the
    summary to (GitHub's ``$GITHUB_STEP_SUMMARY``; appending is how steps share it)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    def timed(name: str, fn: Any, *args: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        result = fn(*args, **kw)
        timings[name] = time.perf_counter() - t0
        return result

    md = timed("markdown", render_markdown, data)
    summary = timed("summary", render_step_summary, data)
    html = timed("html", render_html, data)
    files = ReportFiles(out / "report.md", out / "summary.md", out / "report.html", {}, timings=timings)
    _write_text(files.markdown, md)
    _write_text(files.summary, summary)
    _write_text(files.html, html)
    files.csv = timed("csv", write_csv_tables, data, out)
    if step_summary:
        files.step_summary = Path(step_summary)
        with open(files.step_summary, "a", encoding="utf-8") as fh:
            fh.write(summary if summary.endswith("\n") else summary + "\n")
    return files
