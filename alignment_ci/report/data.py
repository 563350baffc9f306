"""What a report renders: :class:`ReportData`, plain data handed in by a collector.

The report package imports no pipeline stage; ``alignment_ci.report.collect`` gathers these
fields from the store, the gate results and the batches. Every field is optional: a part
that did not run renders as "not run".

Shapes (all JSON-compatible):

* ``validation``: one dict per batch, ``ValidationReport.to_dict()`` or a manifest summary:
  ``{batch_id, path, accepted, rows, error_count, warning_count, errors: [{line, column,
  kind, message}], warnings: [...]}``.
* ``health``: ``alignment_ci.quality.health.label_health`` outputs, one per batch.
* ``candidate`` / ``baseline``: training run records ``{run_key, stage, artifact, metrics,
  per_step, snapshot, wall_s, device, backend, ...}``.
* ``gates``: gate results ``[{gate, outcome: pass|fail|inconclusive, blocking, value,
  threshold, interval: [lo, hi], n, details}]``; ``None`` when the gates did not run.
* ``lineage``: ``{snapshot, git_commit, runs: [{role, stage, run_key, artifact}],
  batches: [{batch_id, sha256, vendor}]}``.
* ``cost``: ``{annotation_usd, labels, gpu_hours, gpu_usd, total_usd, ...}``.
* ``sla``: :func:`alignment_ci.monitor.sla.vendor_sla` of the batches in the report:
  ``{vendors: {vendor: {decisions_per_rater_hour, agreement, gold_accuracy,
  turnaround_hours_median, targets, met, ok}}, ok}``.
* ``reward_scores``: series name → reward-model scores (e.g. ``candidate``, ``baseline``).
* ``calibration``: bins ``[{predicted, observed, n}]`` (mean predicted P(chosen ≻ rejected)
  and the observed share of pairs where the chosen answer won); the calibration gate's
  ``{confidence, accuracy, n}`` bins are read the same way.
* ``win_rates``: ``[{slice, win_rate, n, interval: [lo, hi]}]``, candidate vs baseline.
* ``examples``: eval prompts ``[{slice, prompt, candidate, baseline, candidate_score,
  baseline_score, scores: {judge: {candidate, baseline}}, judge}]`` (the policy_winrate gate's
  side-by-side answers: ``candidate_score``/``baseline_score`` are the ``judge``'s, ``scores``
  every judge's); the report shows the largest regressions and the largest improvements.
* Gate ``details`` are shown in full in the HTML (lists of records as tables); the safety
  gate's ``details.failures`` (``[{id, category, categories, prompt, answer}]``) are the
  offending answers, shown neutralised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

OUTCOMES = ("pass", "fail", "inconclusive", "skipped")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class ReportData:
    """Everything one PR report shows. See the module docstring for each field's shape."""

    project: str = "alignment-ci"
    validation: list[dict[str, Any]] | None = None
    health: list[dict[str, Any]] | None = None
    candidate: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    gates: list[dict[str, Any]] | None = None
    gate_errors: list[str] = field(default_factory=list)
    inconclusive_blocks: bool = True
    lineage: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] | None = None
    sla: dict[str, Any] | None = None
    reward_scores: dict[str, list[float]] = field(default_factory=dict)
    calibration: list[dict[str, Any]] = field(default_factory=list)
    win_rates: list[dict[str, Any]] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    html_url: str | None = None
    run_url: str | None = None
    generated_at: str = field(default_factory=_now)
    notes: list[str] = field(default_factory=list)
    first_model: bool = False  # no production baseline at all: nothing to compare against
    candidate_id: str | None = None  # the candidate record the gates judged


@dataclass(frozen=True)
class Verdict:
    """The gate verdict the report leads with.

    ``state`` is ``pass`` (no blocking gate failed), ``fail`` (a blocking gate failed, or
    was inconclusive while inconclusive gates block, or a gate file could not run) or
    ``not run`` (no gate results). The rule is the gating plugin's (``gating.results.blocks``).
    """

    state: str
    counts: dict[str, int]
    blocking_failures: list[str]
    shadow_failures: list[str]
    errors: int = 0
    blocking_outcomes: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def commit_state(self) -> str:
        """The commit-status state: success, failure, or pending when no gate ran."""
        return {"pass": "success", "fail": "failure"}.get(self.state, "pending")

    @property
    def icon(self) -> str:
        return {"pass": "✅", "fail": "❌"}.get(self.state, "⏸️")

    def sentence(self) -> str:
        """One line for the status description and the report's first line."""
        if self.state == "not run":
            return "gates not run"
        total = sum(self.counts.values())
        parts = [f"{self.counts[o]} {o}" for o in OUTCOMES if self.counts.get(o)]
        text = f"{total} gate(s): {', '.join(parts)}"
        if self.errors:
            text += f"; {self.errors} gate file(s) could not run"
        if self.blocking_failures:
            text += f"; blocking: {', '.join(self.blocking_failures)}"
        if self.skipped:
            text += f"; skipped: {', '.join(self.skipped)}"
        return text

    def headline(self, first_model: bool = False, limit: int = 6) -> str:
        """The report's first line: merge or not, and why (the blocking gates by name)."""
        baseline = "first model: no baseline" if first_model else ""
        if self.state == "not run":
            return "⏸️ Not decided: the gates did not run" + (f" ({baseline})" if baseline else "")
        if self.state == "pass":
            n = self.counts.get("pass", 0)
            text = f"✅ Merge: every blocking gate passed ({n} passed"
            if self.shadow_failures:
                text += f"; shadow gates failed, not blocking: {', '.join(self.shadow_failures[:limit])}"
            return text + ")" + (f" · {baseline}" if baseline else "")
        named = [f"{g} ({self.blocking_outcomes.get(g, 'fail')})" for g in self.blocking_failures[:limit]]
        more = len(self.blocking_failures) - limit
        why = ", ".join(named) + (f" and {more} more" if more > 0 else "")
        if self.errors:
            why += (" and " if why else "") + f"{self.errors} gate file(s) that could not run"
        return "❌ Do not merge: " + (f"{baseline}; " if baseline else "") + f"blocked by {why}"


def verdict_of(gates: list[dict[str, Any]] | None, inconclusive_blocks: bool = True, errors: list[str] | None = None) -> Verdict:
    """Combine gate outcomes: a blocking gate that fails (or is inconclusive, when those
    block) fails the verdict, as does a gate file that could not run (``errors``); shadow
    gates (``blocking: false``) are reported only; ``skipped`` never blocks."""
    if gates is None and not errors:
        return Verdict("not run", {}, [], [])
    counts = {o: 0 for o in OUTCOMES}
    blocking, shadow, outcomes, skipped = [], [], {}, []
    for g in gates or []:
        outcome = str(g.get("outcome", "inconclusive"))
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome == "fail" or (outcome == "inconclusive" and inconclusive_blocks):
            (blocking if g.get("blocking", True) else shadow).append(str(g.get("gate", "?")))
            outcomes[str(g.get("gate", "?"))] = outcome
        elif outcome == "skipped":
            skipped.append(str(g.get("gate", "?")))
    n_errors = len(errors or [])
    return Verdict("fail" if blocking or n_errors else "pass", counts, blocking, shadow, n_errors, outcomes, skipped)


def finite(value: Any) -> float | None:
    """``value`` as a float, or None when missing, non-numeric or not finite."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def metric_rows(candidate: dict[str, Any] | None, baseline: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Training metrics side by side: ``[{metric, candidate, baseline, delta, digits}]``, sorted by
    name; ``digits`` is how many decimals a renderer shows (0 for counts, ``n_*``)."""
    cm = (candidate or {}).get("metrics") or {}
    bm = (baseline or {}).get("metrics") or {}
    rows = []
    for name in sorted(set(cm) | set(bm), key=str):
        c, b = finite(cm.get(name)), finite(bm.get(name))
        rows.append({"metric": str(name), "candidate": c, "baseline": b, "delta": c - b if c is not None and b is not None else None,
                     "digits": 0 if str(name).startswith("n_") else 4})
    return rows


def regressions(examples: list[dict[str, Any]], limit: int | None = None) -> list[dict[str, Any]]:
    """Eval examples sorted by candidate − baseline score, worst first (``delta`` added)."""
    rows = []
    for ex in examples:
        c, b = finite(ex.get("candidate_score")), finite(ex.get("baseline_score"))
        rows.append({**ex, "delta": c - b if c is not None and b is not None else None})
    rows.sort(key=lambda r: (r["delta"] is None, r["delta"] if r["delta"] is not None else 0.0))
    return rows if limit is None else rows[:limit]


def improvements(examples: list[dict[str, Any]], limit: int | None = None) -> list[dict[str, Any]]:
    """Eval examples the candidate won (``delta > 0``), best first."""
    rows = [r for r in regressions(examples) if r["delta"] is not None and r["delta"] > 0]
    rows.reverse()
    return rows if limit is None else rows[:limit]


def losses(examples: list[dict[str, Any]], limit: int | None = None) -> list[dict[str, Any]]:
    """Eval examples the candidate lost (``delta < 0``), worst first."""
    rows = [r for r in regressions(examples) if r["delta"] is not None and r["delta"] < 0]
    return rows if limit is None else rows[:limit]


def judge_labels(examples: list[dict[str, Any]]) -> list[str]:
    """The judges that scored the examples, in first-seen order."""
    seen: list[str] = []
    for ex in examples:
        for label in (ex.get("scores") or {}):
            if label not in seen:
                seen.append(str(label))
    return seen


def safety_failures(gates: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The red-team answers that failed a safety gate (one row per prompt id), with the answer."""
    rows, seen = [], set()
    for g in gates or []:
        details = g.get("details") or {}
        if not str(g.get("gate", "")).startswith("safety") or not isinstance(details, dict):
            continue
        for f in details.get("failures") or []:
            if not isinstance(f, dict) or f.get("id") in seen:
                continue
            seen.add(f.get("id"))
            rows.append({"id": str(f.get("id", "")), "category": str(f.get("category") or ""),
                         "categories": ", ".join(str(c) for c in f.get("categories") or []),
                         "prompt": str(f.get("prompt") or ""), "answer": str(f.get("answer") or "")})
    return rows


def detail_tables(details: Any, skip: tuple[str, ...] = ("examples",), max_rows: int = 200) -> list[dict[str, Any]]:
    """The non-scalar entries of a gate's ``details`` as tables for the HTML report:
    ``[{key, columns, rows, more}]`` (a list of records: one row each; a list of scalars or a
    mapping: key/value rows)."""
    if not isinstance(details, dict):
        return []
    out = []
    for key, value in details.items():
        if key in skip or not value:
            continue
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            columns: list[str] = []
            for v in value:
                columns += [str(k) for k in v if str(k) not in columns]
            rows = [[v.get(c) for c in columns] for v in value[:max_rows]]
        elif isinstance(value, list):
            columns, rows = ["value"], [[v] for v in value[:max_rows]]
        elif isinstance(value, dict):
            columns, rows = ["key", "value"], [[k, v] for k, v in list(value.items())[:max_rows]]
        else:
            continue
        out.append({"key": str(key), "columns": columns, "rows": rows,
                    "more": max(0, len(value) - max_rows)})
    return out


def flagged_raters(health: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Flagged raters of every batch: ``[{batch, rater, n, reliability, reasons}]``."""
    rows = []
    for h in health or []:
        batch = ", ".join(str(b) for b in h.get("batch_ids") or [])
        for rid, r in (h.get("flagged_raters") or {}).items():
            rows.append({"batch": batch, "rater": str(rid), "n": r.get("n"), "reliability": r.get("reliability"),
                         "reasons": "; ".join(str(x) for x in r.get("reasons") or [])})
    return rows
