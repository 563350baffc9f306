"""Label quality as a merge decision: one batch's checks, the outcome, and the remedy.

Three checks over a batch's judgments (the raters its manifest excludes already left out):

1. agreement per dimension (Krippendorff's alpha against ``quality.alpha_tentative``, see
   :mod:`.agreement`): a ``fail`` on a *critical* dimension of the taxonomy fails the batch;
   on other dimensions it is reported (and fails only with ``noncritical_blocks``); an
   ``inconclusive`` critical dimension makes the batch inconclusive;
2. the share of judgments from flagged raters (:mod:`.raters`) must be at most
   ``max_flagged_share``;
3. gold accuracy (all gold judgments pooled) must reach the vendor's contracted
   ``min_gold_accuracy`` (``sla.vendors.<vendor>``, else ``sla.default``); fewer than
   ``min_gold_judgments`` gold judgments is inconclusive.

When the batch fails and raters are flagged, the remedy is to exclude them: the checks are
run again without them, and the remedy says whether that would pass. Excluding is an
explicit change of the batch manifest (``alignment-ci manifest exclude-raters``), reviewed in
the pull request, recorded in lineage, honoured by aggregation and training.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field
from typing import Any


from ..config import Config
from ..data.manifest import drop_excluded
from .agreement import agreement_report
from .raters import rater_report
from .. import lazy

pd = lazy.module("pandas")

SEVERITY = {"pass": 0, "inconclusive": 1, "fail": 2}


@dataclass
class Check:
    """One check of a batch: its outcome and a sentence saying why."""

    name: str
    outcome: str
    reason: str
    value: float | None = None
    threshold: float | None = None


@dataclass
class BatchAssessment:
    batch_id: str
    vendor: str | None
    outcome: str
    checks: list[Check]
    dimensions: dict[str, dict[str, Any]]
    flagged: dict[str, dict[str, Any]]
    flagged_share: float
    gold: dict[str, Any]
    excluded_raters: list[str]
    judgments: int
    remedy: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        failing = [c for c in self.checks if c.outcome != "pass"]
        shown = failing or self.checks
        text = "; ".join(c.reason for c in shown)
        if self.excluded_raters:
            text += f" (raters excluded by the manifest: {', '.join(self.excluded_raters)})"
        if self.remedy:
            text += f". Remedy: {self.remedy['text']}"
        return text

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["reason"] = self.reason
        return out


def _gold(raters: dict[str, dict[str, Any]]) -> tuple[int, int]:
    n = sum(int(r.get("gold_n") or 0) for r in raters.values())
    right = sum(round((r.get("gold_accuracy") or 0.0) * int(r.get("gold_n") or 0)) for r in raters.values())
    return right, n


def _checks(df: pd.DataFrame, config: Config, vendor: str | None, *, max_flagged_share: float,
            min_gold_judgments: int, noncritical_blocks: bool,
            bootstrap_samples: int | None) -> tuple[list[Check], dict[str, Any], dict[str, Any], float, dict[str, Any]]:
    critical = {d.name for d in config.taxonomy.dimensions if d.critical}
    agreement = agreement_report(df, config, bootstrap_samples=bootstrap_samples)
    raters = rater_report(df, config)["raters"]
    checks: list[Check] = []
    dims: dict[str, dict[str, Any]] = {}
    for dim, entry in agreement["dimensions"].items():
        is_critical = dim in critical
        dims[dim] = {"critical": is_critical, "verdict": entry["verdict"], "alpha": entry["krippendorff_alpha"],
                     "alpha_ci": entry.get("alpha_ci"), "reason": entry.get("reason")}
        alpha = entry["krippendorff_alpha"]
        shown = f"α {alpha:.2f}" if alpha is not None else "α undefined"
        label = f"{'critical ' if is_critical else ''}dimension {dim}"
        if entry["verdict"] == "fail":
            blocks = is_critical or noncritical_blocks
            checks.append(Check(f"agreement={dim}", "fail" if blocks else "pass",
                                f"agreement fails on {label} ({shown} < {config.quality.alpha_tentative:g})"
                                + ("" if blocks else ", not critical: reported only"), alpha,
                                config.quality.alpha_tentative))
        elif entry["verdict"] == "inconclusive":
            checks.append(Check(f"agreement={dim}", "inconclusive" if is_critical else "pass",
                                f"agreement on {label} is inconclusive: {entry.get('reason')}", alpha,
                                config.quality.alpha_tentative))
        else:
            checks.append(Check(f"agreement={dim}", "pass", f"agreement on {label}: {shown}", alpha,
                                config.quality.alpha_tentative))
    flagged = {rid: {"reasons": r["reasons"], "n": r["n"]} for rid, r in raters.items() if r.get("flagged")}
    share = sum(f["n"] for f in flagged.values()) / max(1, len(df))
    names = ", ".join(sorted(flagged)) or "none"
    checks.append(Check("flagged_raters", "fail" if share > max_flagged_share else "pass",
                        f"{share:.0%} of {len(df)} judgments from {len(flagged)} flagged rater(s) ({names})"
                        + (f" > {max_flagged_share:.0%}" if share > max_flagged_share else
                           f", within {max_flagged_share:.0%}"), share, max_flagged_share))
    right, n = _gold(raters)
    target = config.sla.target(vendor).min_gold_accuracy if vendor else config.sla.default.min_gold_accuracy
    gold: dict[str, Any] = {"judgments": n, "correct": right, "accuracy": right / n if n else None,
                            "sla_min": target, "vendor": vendor}
    who = f"vendor {vendor}'s" if vendor else "the default"
    if target is None:
        checks.append(Check("gold_sla", "pass", f"gold accuracy {right}/{n}: {who} SLA sets no gold target"))
    elif n < min_gold_judgments:
        checks.append(Check("gold_sla", "inconclusive", f"only {n} gold judgments, at least {min_gold_judgments} are "
                            f"needed to check {who} SLA (gold accuracy ≥ {target:.2f})", None, target))
    else:
        acc = right / n
        ok = acc >= target
        checks.append(Check("gold_sla", "pass" if ok else "fail",
                            f"gold accuracy {acc:.2f} ({right} of {n}) {'meets' if ok else 'is below'} {who} SLA "
                            f"of {target:.2f}", acc, target))
    return checks, dims, flagged, share, gold


def _worst(checks: list[Check]) -> str:
    return max((c.outcome for c in checks), key=SEVERITY.__getitem__, default="pass")


def exclude_command(batch_id: str, raters: list[str], reason: str) -> str:
    """The command that records the exclusion in the batch's manifest."""
    flags = " ".join(f"--rater {shlex.quote(r)}" for r in raters)
    return f"alignment-ci manifest exclude-raters {shlex.quote(batch_id)} {flags} --reason {shlex.quote(reason)}"


def assess_batch(df: pd.DataFrame, config: Config, *, batch_id: str, vendor: str | None,
                 excluded_raters: list[str] | None = None, max_flagged_share: float = 0.1,
                 min_gold_judgments: int = 10, noncritical_blocks: bool = False,
                 bootstrap_samples: int | None = None) -> BatchAssessment:
    """The label-quality decision of one batch (``df``: its canonical frame, as stored)."""
    excluded = sorted(excluded_raters or [])
    frame = drop_excluded(df, excluded)
    kwargs = dict(max_flagged_share=max_flagged_share, min_gold_judgments=min_gold_judgments,
                  noncritical_blocks=noncritical_blocks, bootstrap_samples=bootstrap_samples)
    checks, dims, flagged, share, gold = _checks(frame, config, vendor, **kwargs)
    outcome = _worst(checks)
    result = BatchAssessment(batch_id, vendor, outcome, checks, dims, flagged, share, gold, excluded, len(frame))
    if outcome != "pass" and flagged:
        raters = sorted(flagged)
        after, *_ = _checks(drop_excluded(frame, raters), config, vendor, **kwargs)
        after_outcome = _worst(after)
        why = "; ".join(f"{r}: {flagged[r]['reasons'][0]}" for r in raters if flagged[r]["reasons"])
        command = exclude_command(batch_id, raters, f"flagged in label quality review of {batch_id}")
        verb = {"pass": "pass", "fail": "still fail", "inconclusive": "be inconclusive"}[after_outcome]
        text = (f"exclude raters {', '.join(raters)} ({command}) and commit the manifest change; without them the "
                f"batch would {verb}"
                + ("" if after_outcome == "pass" else
                   f" ({'; '.join(c.reason for c in after if c.outcome != 'pass')})"))
        result.remedy = {"exclude_raters": raters, "command": command, "outcome_after": after_outcome,
                         "why": why, "text": text}
    elif outcome == "fail":
        result.remedy = {"exclude_raters": [], "command": "alignment-ci quality adjudicate BATCH_FILE --out FILE",
                         "outcome_after": None, "why": "no rater is flagged",
                         "text": "no rater is flagged: send the disagreeing items to adjudication "
                                 "(`alignment-ci quality adjudicate`) or ask the vendor to relabel the batch"}
    return result


__all__ = ["BatchAssessment", "Check", "assess_batch", "exclude_command"]
