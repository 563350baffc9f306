"""CSV exports of the report's row-level tables (gates, flagged raters, eval examples).

Every text cell goes through :func:`alignment_ci.textsafety.escape_csv_cell`: PII redacted,
and a cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR
first) is prefixed with ``'`` (OWASP, "CSV injection"). Numbers stay numbers.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from ..textsafety import escape_csv_cell, neutralize_formula, truncate

# An e-mail address needs an "@", a phone number a run of two digits: text with neither
# has no PII, and skipping the PII patterns for it makes a 10k-row export ~10x faster.
_MAYBE_PII = re.compile(r"@|\d\d")
CELL_LIMIT = 2000
from .data import ReportData, flagged_raters, judge_labels, regressions
from .render import details_text


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (list, tuple, dict)):
        value = json.dumps(value, default=str, ensure_ascii=False)
    text = str(value)
    if _MAYBE_PII.search(text):
        return escape_csv_cell(text, limit=CELL_LIMIT)
    return neutralize_formula(truncate(text, CELL_LIMIT))


def _write(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows([[_cell(v) for v in row] for row in rows])
    tmp.replace(path)
    return path


def write_csv_tables(data: ReportData, out_dir: str | Path) -> dict[str, Path]:
    """Write ``gates.csv``, ``raters.csv`` and ``examples.csv`` (all eval prompts, worst first) to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gates = [[g.get("gate"), g.get("outcome"), g.get("blocking", True), g.get("value"), g.get("threshold"),
              *((g.get("interval") or [None, None])[:2]), g.get("n"), g.get("reason"), details_text(g.get("details"), limit=100)]
             for g in data.gates or []]
    raters = [[r["batch"], r["rater"], r["n"], r["reliability"], r["reasons"]] for r in flagged_raters(data.health)]
    judges = judge_labels(data.examples)
    examples = [[e.get("slice"), e.get("prompt"), e.get("candidate"), e.get("baseline"), e.get("candidate_score"),
                 e.get("baseline_score"), e.get("delta"),
                 *(((e.get("scores") or {}).get(j) or {}).get(side) for j in judges for side in ("baseline", "candidate"))]
                for e in regressions(data.examples)]
    return {
        "gates": _write(out / "gates.csv", ["gate", "outcome", "blocking", "value", "threshold", "interval_lo", "interval_hi", "n", "reason", "details"], gates),
        "raters": _write(out / "raters.csv", ["batch", "rater", "judgments", "reliability", "reasons"], raters),
        "examples": _write(out / "examples.csv", ["slice", "prompt", "candidate", "baseline", "candidate_score", "baseline_score", "delta",
                                                  *(f"{j}_judge_{side}" for j in judges for side in ("baseline", "candidate"))], examples),
    }
