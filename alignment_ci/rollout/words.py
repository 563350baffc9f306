"""A rollout's evidence and state in words, for release managers.

``evidence(analysis, plan)`` turns the analysis of one step into one row per metric —
baseline and candidate values, the difference, the e-value against the rollback bar and
what it means — and a sentence such as
``thumbs_down 9.7% vs 5.1% (+4.6 pts), e-value 643 ≥ 20: roll back``.
``pause_reason(record, plan)`` says why a paused rollout waits.
"""

from __future__ import annotations

import math
from typing import Any

from .plan import RolloutPlan


def _label(name: str) -> str:
    return name  # the metric's name as configured (rollout.metrics), so logs and config grep alike


def _evalue(e: float) -> str:
    if e >= 1e6:
        return f"{e:.2e}"
    return f"{e:.3g}" if e < 100 else f"{e:,.0f}"


def _fmt(value: float | None, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * value:.1f}%" if kind == "boolean" else f"{value:.4g}"


def evidence(analysis: dict[str, Any] | None, plan: RolloutPlan) -> list[dict[str, Any]]:
    """One row per metric of ``analysis``: values, difference, e-value, verdict and a sentence."""
    if not analysis:
        return []
    kinds = {m.name: m.kind for m in plan.metrics}
    rows = []
    for name, m in (analysis.get("metrics") or {}).items():
        kind = kinds.get(name, "boolean")
        cand, base, e = m.get("candidate"), m.get("baseline"), float(m.get("evalue") or 1.0)
        diff = None if cand is None or base is None else cand - base
        if diff is None:
            shown_diff = "no events on one side yet"
        elif kind == "boolean":
            shown_diff = f"{100 * diff:+.1f} pts"
        else:
            shown_diff = f"{diff:+.4g}"
        if e >= plan.rollback_evalue:
            verdict, sign = "roll back", "≥"
        elif e >= plan.inconclusive_evalue:
            verdict, sign = "leaning against the candidate", "<"
        else:
            verdict, sign = "no evidence of harm", "<"
        sentence = (f"{_label(name)} {_fmt(cand, kind)} vs {_fmt(base, kind)} ({shown_diff}), "
                    f"e-value {_evalue(e)} {sign} {plan.rollback_evalue:g}: {verdict}")
        rows.append({"metric": name, "candidate": cand, "baseline": base, "difference": diff,
                     "candidate_n": m.get("candidate_n"), "baseline_n": m.get("baseline_n"), "evalue": e,
                     "rollback_at": plan.rollback_evalue, "verdict": verdict, "sentence": sentence,
                     "shown": {"candidate": _fmt(cand, kind), "baseline": _fmt(base, kind), "difference": shown_diff,
                               "evalue": _evalue(e)}})
    return rows


def pause_reason(record: dict[str, Any], plan: RolloutPlan) -> str | None:
    """Why a paused rollout waits: approval for the next stage, or inconclusive evidence."""
    if record.get("status") != "paused":
        return None
    if record.get("pause_reason"):
        return str(record["pause_reason"])
    stage = int(record.get("stage", 0))
    nxt = plan.stages[stage + 1] if stage + 1 < len(plan.stages) else None
    if nxt is not None and nxt.manual_approval:
        return f"awaiting approval for {nxt.percent:g}%"
    return "evidence inconclusive"


def evidence_markdown(rows: list[dict[str, Any]]) -> str:
    """The evidence as a Markdown table (step summaries, deployment descriptions)."""
    if not rows:
        return ""
    lines = ["| metric | candidate | baseline | difference | e-value | verdict |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        shown = r["shown"]
        lines.append(f"| {_label(r['metric'])} | {shown['candidate']} ({r['candidate_n']}) | "
                     f"{shown['baseline']} ({r['baseline_n']}) | {shown['difference']} | {shown['evalue']} | {r['verdict']} |")
    return "\n".join(lines)
