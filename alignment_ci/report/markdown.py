"""The Markdown report: the sticky PR comment and the GitHub step summary (the same content).

GitHub rejects a comment body over 65,536 characters. :func:`render_markdown` renders
at increasing *levels* until the text fits: 0 everything open (long tables capped);
1 sections collapsed in ``<details>`` and long tables shortened; 2 row-level tables cut
to a few rows; 3 row-level tables dropped with a note linking the HTML report; 4 charts
and long lists dropped. Only if even that is too long
(thousands of gates) is the text cut, with a note.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from ..forge.base import COMMENT_MAX_CHARS, comment_marker
from .charts import mermaid_charts
from .data import ReportData, improvements, judge_labels, losses, metric_rows, safety_failures, verdict_of
from .render import render, render_health_markdown

STEP_SUMMARY_MAX_BYTES = 1024 * 1024
"""GitHub's limit on one step's summary (``$GITHUB_STEP_SUMMARY``): 1 MiB."""
COMMENT_BUDGET = COMMENT_MAX_CHARS - len(comment_marker("report")) - 1
"""Characters left for the body once the forge prepends its hidden marker line."""
_SAFE_URL = re.compile(r"(?:https?|file)://[^\s()<>\[\]\"'`]+")


@dataclass(frozen=True)
class Level:
    """How much of the report to show; higher levels show less."""

    level: int
    collapse: bool
    examples: int
    issues: int
    raters: int | None
    health_full: bool
    charts: bool
    metrics: int
    batches: int
    batches_lineage: bool
    gates: int | None
    text_chars: int
    details_chars: int


LEVELS = (
    Level(0, False, 10, 20, 200, True, True, 200, 200, True, None, 200, 300),
    Level(1, True, 10, 10, 50, True, True, 200, 100, True, None, 200, 300),
    Level(2, True, 3, 5, 10, True, True, 100, 100, True, None, 120, 200),
    Level(3, True, 0, 0, 0, False, True, 50, 50, True, 200, 0, 120),
    Level(4, True, 0, 0, 0, False, False, 20, 20, False, 50, 0, 80),
)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: at least the character count any service measures."""
    return len(text.encode("utf-16-le")) // 2


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def safe_url(url: str | None) -> str | None:
    """``url`` when it is a plain http(s)/file URL that cannot break out of a Markdown link."""
    return url if url and _SAFE_URL.fullmatch(url) else None


def _gate(g: dict[str, Any]) -> dict[str, Any]:
    interval = g.get("interval")
    if not (isinstance(interval, (list, tuple)) and len(interval) == 2):
        interval = None
    return {
        "gate": str(g.get("gate", "?")),
        "outcome": str(g.get("outcome", "inconclusive")),
        "blocking": bool(g.get("blocking", True)),
        "value": g.get("value"),
        "threshold": g.get("threshold"),
        "interval": interval,
        "n": g.get("n"),
        "details": g.get("details"),
        "reason": str(g.get("reason") or ""),
    }


def _run(r: dict[str, Any] | None) -> dict[str, Any] | None:
    if not r:
        return None
    return {**r, **{k: r.get(k) for k in ("run_key", "stage", "device", "backend", "wall_s", "artifact")}}


def _validation(r: dict[str, Any]) -> dict[str, Any]:
    def issues(key: str) -> list[dict[str, Any]]:
        return [{"line": i.get("line"), "column": i.get("column"), "kind": str(i.get("kind", "")), "message": str(i.get("message", ""))}
                for i in (r.get(key) or [])]

    errors, warnings = issues("errors"), issues("warnings")
    return {
        "batch_id": str(r.get("batch_id") or "–"),
        "path": r.get("path"),
        "accepted": bool(r.get("accepted")),
        "rows": r.get("rows"),
        "errors": errors,
        "warnings": warnings,
        "error_count": r.get("error_count", len(errors)),
        "warning_count": r.get("warning_count", len(warnings)),
    }


def _example(e: dict[str, Any]) -> dict[str, Any]:
    scores = e.get("scores") if isinstance(e.get("scores"), dict) else {}
    return {**e, **{k: str(e.get(k) if e.get(k) is not None else "") for k in ("slice", "prompt", "candidate", "baseline")},
            "judge": str(e.get("judge") or "reward model"),
            "scores": {str(k): v for k, v in scores.items() if isinstance(v, dict)}}


def normalized(data: ReportData) -> ReportData:
    """A copy whose dicts have every key the templates read (missing parts become None/empty)."""
    lineage = dict(data.lineage or {})
    lineage.setdefault("snapshot", None)
    lineage.setdefault("git_commit", None)
    lineage["runs"] = [{k: r.get(k) for k in ("role", "stage", "run_key", "artifact")} for r in lineage.get("runs") or []]
    lineage["batches"] = [{k: b.get(k) for k in ("batch_id", "vendor", "sha256")} for b in lineage.get("batches") or []]
    cost = None
    if data.cost:
        cost = {k: data.cost.get(k) for k in ("labels", "annotation_usd", "gpu_hours", "gpu", "gpu_usd", "total_usd")}
        cost["configured"] = data.cost.get("configured", True)
    return ReportData(
        project=str(data.project),
        validation=None if data.validation is None else [_validation(r) for r in data.validation],
        health=data.health,
        candidate=_run(data.candidate),
        baseline=_run(data.baseline),
        gates=None if data.gates is None else [_gate(g) for g in data.gates],
        gate_errors=[str(e) for e in data.gate_errors],
        inconclusive_blocks=data.inconclusive_blocks,
        lineage=lineage,
        cost=cost,
        sla=data.sla,
        reward_scores=data.reward_scores,
        calibration=data.calibration,
        win_rates=data.win_rates,
        examples=[_example(e) for e in data.examples],
        html_url=data.html_url,
        run_url=data.run_url,
        generated_at=str(data.generated_at),
        notes=[str(n) for n in data.notes],
    )


def _health_sections(health: list[dict[str, Any]], lv: Level) -> list[dict[str, Any]]:
    sections = []
    for h in health[: lv.batches]:
        hidden = 0
        flagged = h.get("flagged_raters") or {}
        if lv.raters is not None and len(flagged) > lv.raters:
            h = copy.copy(h)
            h["flagged_raters"] = dict(list(flagged.items())[: lv.raters])
            hidden = len(flagged) - lv.raters
        sections.append({"markdown": render_health_markdown(h), "hidden_raters": hidden})
    return sections


def _render_level(d: ReportData, lv: Level, charts: list[dict[str, str]], ranked: dict[str, Any]) -> str:
    gates = d.gates or []
    if lv.gates is not None and len(gates) > lv.gates:
        not_passed = [g for g in gates if g["outcome"] != "pass"]
        shown = not_passed[: lv.gates]
        hidden = len(gates) - len(shown)
    else:
        shown, hidden = gates, 0
    return render(
        "report.md.j2",
        d=d,
        v=verdict_of(d.gates, d.inconclusive_blocks, d.gate_errors),
        lv=lv,
        gates_shown=shown,
        gates_hidden=hidden,
        metrics=metric_rows(d.candidate, d.baseline),
        charts=charts,
        worst=ranked["worst"],
        best=ranked["best"],
        judges=ranked["judges"],
        safety=ranked["safety"],
        health_sections=_health_sections(d.health or [], lv) if lv.health_full else [],
        html_url=safe_url(d.html_url),
        run_url=safe_url(d.run_url),
    )


MIN_ROW_CHARS = 12
"""No table row renders shorter than this: a level whose rows alone exceed the limit is skipped unrendered."""


def _rows_at(d: ReportData, lv: Level) -> int:
    """How many table rows ``lv`` renders, at least (a cheap lower bound on its size)."""
    rows = len(d.gates or []) if lv.gates is None else min(len(d.gates or []), lv.gates)
    rows += min(len(metric_rows(d.candidate, d.baseline)), lv.metrics) + min(len(d.examples), 2 * lv.examples) * 4
    for r in (d.validation or [])[: lv.batches]:
        rows += 1 + min(len(r["errors"]) + len(r["warnings"]), lv.issues)
    if lv.health_full:
        for h in (d.health or [])[: lv.batches]:
            flagged = len(h.get("flagged_raters") or {})
            rows += min(flagged, lv.raters) if lv.raters is not None else flagged
    return rows


def render_markdown(data: ReportData, limit: int = COMMENT_BUDGET, *, measure: str = "utf16") -> str:
    """The Markdown report, condensed level by level until it is at most ``limit`` long.

    ``measure``: ``utf16`` (characters, as GitHub counts a comment: use :data:`COMMENT_BUDGET`)
    or ``bytes`` (UTF-8, for the step summary: use :data:`STEP_SUMMARY_MAX_BYTES`).
    """
    size = utf8_len if measure == "bytes" else utf16_len
    d = normalized(data)
    charts = mermaid_charts(d)
    ranked = {"worst": losses(d.examples), "best": improvements(d.examples),
              "judges": judge_labels(d.examples), "safety": safety_failures(d.gates)}
    text = ""
    for lv in LEVELS:
        if lv is not LEVELS[-1] and _rows_at(d, lv) * MIN_ROW_CHARS > limit:
            continue
        text = _render_level(d, lv, charts, ranked)
        if size(text) <= limit:
            return text
    note = "\n\n… (cut to fit the size limit: see the full HTML report)\n"
    while size(text) + size(note) > limit:
        text = text[: max(0, len(text) - max(1, (size(text) + size(note) - limit)))]
    return text + note


def render_step_summary(data: ReportData) -> str:
    """The same report for ``$GITHUB_STEP_SUMMARY`` (limit 1 MiB, so it is rarely condensed)."""
    return render_markdown(data, STEP_SUMMARY_MAX_BYTES, measure="bytes")
