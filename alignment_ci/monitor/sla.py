"""Vendor service levels: turnaround, throughput, agreement and gold accuracy against targets.

Per vendor, over its batch records:

* turnaround — hours from push to acceptance (median and 90th percentile of accepted
  batches; batches not yet accepted are counted as ``pending``);
* decisions per rater-hour — judgments / (sum of ``time_spent_s`` / 3600);
* agreement — Krippendorff's alpha of the vendor's batches, weighted by judgments;
* gold accuracy — correct gold judgments / gold judgments.

Each is compared with the vendor's contracted target (``sla.vendors.<vendor>`` or
``sla.default``); a metric without data or without a target is ``null`` in ``met`` and
does not fail the vendor.

A batch record is a mapping with ``vendor``, ``batch_id``, ``pushed_at``, ``accepted_at``
(ISO-8601 text or datetimes; ``accepted_at`` null while pending), ``decisions``,
``rater_seconds``, ``agreement`` and ``agreement_judgments``, ``gold_judgments`` and
``gold_correct``; :func:`batch_sla_record` computes the label statistics from a batch's rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ..config import Config
from ..errors import InputError
from ..quality.agreement import agreement_report
from ..quality.raters import rater_report
from .settings import SlaSettings


def _time(value: Any, what: str, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"{where}: {what} {value!r} is not an ISO-8601 time") from None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt


def batch_sla_record(
    df: Any, vendor: str, batch_id: str, pushed_at: Any, accepted_at: Any = None, config: Config | None = None
) -> dict[str, Any]:
    """The SLA record of one batch from its canonical rows (a DataFrame): decisions, rater
    time, Krippendorff's alpha (weighted over dimensions) and gold judgments/correct."""

    decisions = int(len(df))
    seconds = float(df["time_spent_s"].fillna(0).sum()) if "time_spent_s" in df.columns else 0.0
    agreement = agreement_report(df, config, bootstrap_samples=0)
    alphas = [(d["krippendorff_alpha"], d["n_judgments"]) for d in agreement["dimensions"].values() if d.get("krippendorff_alpha") is not None]
    judged = sum(n for _, n in alphas)
    raters = rater_report(df, config)["raters"].values()
    gold_n = sum(int(r.get("gold_n") or 0) for r in raters)
    gold_correct = sum(round((r.get("gold_accuracy") or 0.0) * int(r.get("gold_n") or 0)) for r in raters)
    return {
        "vendor": vendor,
        "batch_id": batch_id,
        "pushed_at": pushed_at,
        "accepted_at": accepted_at,
        "decisions": decisions,
        "rater_seconds": seconds,
        "agreement": (sum(a * n for a, n in alphas) / judged) if judged else None,
        "agreement_judgments": judged,
        "gold_judgments": gold_n,
        "gold_correct": gold_correct,
    }


def _checks(metrics: dict[str, Any], target: Any) -> dict[str, bool | None]:
    def check(value: float | None, bound: float | None, higher_is_better: bool) -> bool | None:
        if value is None or bound is None:
            return None
        return value >= bound if higher_is_better else value <= bound

    return {
        "turnaround": check(metrics["turnaround_hours_median"], target.max_turnaround_hours, False),
        "decisions_per_rater_hour": check(metrics["decisions_per_rater_hour"], target.min_decisions_per_rater_hour, True),
        "agreement": check(metrics["agreement"], target.min_agreement, True),
        "gold_accuracy": check(metrics["gold_accuracy"], target.min_gold_accuracy, True),
    }


def vendor_sla(records: Iterable[Mapping[str, Any]], settings: SlaSettings | None = None, now: datetime | None = None) -> dict[str, Any]:
    """``{"vendors": {vendor: {batches, accepted, pending, turnaround_hours_median,
    turnaround_hours_p90, oldest_pending_hours, decisions, rater_hours,
    decisions_per_rater_hour, agreement, gold_judgments, gold_accuracy, targets, met, ok}}}``."""
    settings = settings or SlaSettings()
    now = now or datetime.now(timezone.utc)
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for i, rec in enumerate(records):
        vendor = rec.get("vendor")
        if not isinstance(vendor, str) or not vendor:
            raise InputError(f"batch record {i + 1}: no vendor")
        grouped.setdefault(vendor, []).append(rec)
    vendors: dict[str, Any] = {}
    for vendor, recs in sorted(grouped.items()):
        turnaround, pending_age = [], []
        decisions = 0
        seconds = 0.0
        alpha_sum = alpha_n = 0.0
        gold_n = gold_ok = 0
        for rec in recs:
            where = f"batch {rec.get('batch_id', '?')} of {vendor}"
            pushed = _time(rec.get("pushed_at"), "pushed_at", where)
            accepted = _time(rec.get("accepted_at"), "accepted_at", where)
            if pushed is not None and accepted is not None:
                if accepted < pushed:
                    raise InputError(f"{where}: accepted_at is before pushed_at")
                turnaround.append((accepted - pushed).total_seconds() / 3600)
            elif pushed is not None:
                pending_age.append((now - pushed).total_seconds() / 3600)
            decisions += int(rec.get("decisions") or 0)
            seconds += float(rec.get("rater_seconds") or 0.0)
            if rec.get("agreement") is not None:
                n = float(rec.get("agreement_judgments") or rec.get("decisions") or 1)
                alpha_sum += float(rec["agreement"]) * n
                alpha_n += n
            gold_n += int(rec.get("gold_judgments") or 0)
            gold_ok += int(rec.get("gold_correct") or 0)
        hours = seconds / 3600
        metrics: dict[str, Any] = {
            "batches": len(recs),
            "accepted": len(turnaround),
            "pending": len(pending_age),
            "turnaround_hours_median": round(float(np.median(turnaround)), 3) if turnaround else None,
            "turnaround_hours_p90": round(float(np.percentile(turnaround, 90)), 3) if turnaround else None,
            "oldest_pending_hours": round(max(pending_age), 3) if pending_age else None,
            "decisions": decisions,
            "rater_hours": round(hours, 3),
            "decisions_per_rater_hour": round(decisions / hours, 3) if hours > 0 else None,
            "agreement": round(alpha_sum / alpha_n, 4) if alpha_n else None,
            "gold_judgments": gold_n,
            "gold_accuracy": round(gold_ok / gold_n, 4) if gold_n else None,
        }
        target = settings.target(vendor)
        met = _checks(metrics, target)
        metrics["targets"] = target.model_dump()
        metrics["met"] = met
        metrics["ok"] = all(v is not False for v in met.values())
        vendors[vendor] = metrics
    return {"vendors": vendors, "ok": all(v["ok"] for v in vendors.values())}
