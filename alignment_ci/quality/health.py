"""Label health: the batch-level summary a reviewer of a label-batch PR reads first.

Combines the counts of the batch with agreement (:mod:`.agreement`), rater flags
(:mod:`.raters`), sampling-budget shares and the validation warnings. Returns plain
data; rendering (Markdown for the PR report) lives in :mod:`alignment_ci.report`.
"""

from __future__ import annotations

from typing import Any


from ..config import Config
from ..data.manifest import drop_excluded
from .agreement import agreement_report
from .critic import anchoring, critic_agreement, triage
from .raters import rater_report
from .. import lazy

pd = lazy.module("pandas")


UNREAD_TEXT = ("prompt", "response_a", "response_b", "response", "rationale")
"""Free-text columns that label health without critic scores never reads (a ranking's
``responses`` are read: its agreement units are response pairs). :func:`label_health` keeps them
away from its agreement and rater statistics, so that splitting the frame by dimension, rater or
task type does not copy megabytes of text; a caller without critic scores can skip reading them
(:func:`health_columns`)."""


def health_columns(names: list[str]) -> list[str]:
    """The columns of ``names`` that :func:`label_health` reads when given no critic scores."""
    return [c for c in names if c not in UNREAD_TEXT]


def _distribution(series: pd.Series) -> dict[str, int]:
    counts = series.dropna().value_counts().sort_index()
    return {str(int(k)) if isinstance(k, float) and k.is_integer() else str(k): int(v) for k, v in counts.items()}


def label_health(
    df: pd.DataFrame,
    config: Config,
    *,
    warnings: dict[str, int] | None = None,
    bootstrap_samples: int | None = None,
    critic_scores: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The health summary of one batch (canonical frame ``df``).

    ``warnings`` are the validation warning counts by kind (PII, formula, …), passed in
    by the caller that validated the batch. The overall ``verdict`` is ``fail`` when
    agreement fails on any dimension, ``warn`` when raters are flagged or agreement is
    inconclusive, else ``pass``.
    """
    whole = df  # the critic's triage groups votes by prompt
    df = df.drop(columns=[c for c in UNREAD_TEXT if c in df.columns])
    rows = len(df)
    per_item = df.groupby(["item_id", "dimension"]).size() if rows else pd.Series(dtype=int)
    gold = df["is_gold"].fillna(False).astype(bool) if "is_gold" in df else pd.Series(False, index=df.index)
    health: dict[str, Any] = {
        "batch_ids": sorted(df["batch_id"].dropna().unique().tolist()) if rows else [],
        "task_type": str(df["task_type"].iloc[0]) if rows else None,
        "rows": rows,
        "items": int(df["item_id"].nunique()) if rows else 0,
        "raters": int(df["rater_id"].nunique()) if rows else 0,
        "judgments_per_item": {
            "mean": float(per_item.mean()) if rows else 0.0,
            "min": int(per_item.min()) if rows else 0,
            "max": int(per_item.max()) if rows else 0,
        },
        "gold": {
            "rows": int(gold.sum()),
            "items": int(df.loc[gold, "item_id"].nunique()) if rows else 0,
            "item_share": float(df.loc[gold, "item_id"].nunique() / max(1, df["item_id"].nunique())) if rows else 0.0,
        },
    }
    dims: dict[str, Any] = {}
    split = df[[c for c in ("dimension", "item_id", "choice", "rating") if c in df.columns]]  # what the loop reads
    for dim, part in split.groupby("dimension", sort=True):
        entry: dict[str, Any] = {"rows": int(len(part)), "items": int(part["item_id"].nunique())}
        if "choice" in part:
            entry["choices"] = _distribution(part["choice"])
            ab = part["choice"].isin(["a", "b"])
            entry["skip_rate"] = float((part["choice"] == "skip").mean())
            entry["position_bias"] = float((part.loc[ab, "choice"] == "a").mean()) if ab.any() else None
        if "rating" in part:
            entry["ratings"] = _distribution(part["rating"])
        dims[str(dim)] = entry
    health["dimensions"] = dims
    if "choice" in df:
        ab = df["choice"].isin(["a", "b"])
        health["skip_rate"] = float((df["choice"] == "skip").mean()) if rows else 0.0
        health["position_bias"] = float((df.loc[ab, "choice"] == "a").mean()) if ab.any() else None
    else:
        health["skip_rate"], health["position_bias"] = None, None

    agreement = agreement_report(df, config, bootstrap_samples=bootstrap_samples)
    health["agreement"] = agreement
    raters = rater_report(df, config)
    health["flagged_raters"] = {
        rid: {"reasons": info["reasons"], "n": info["n"], "reliability": info["reliability"]}
        for rid, info in raters["raters"].items()
        if info.get("flagged")
    }
    health["insufficient_data_raters"] = raters.get("insufficient_data", [])

    budget = config.sampling.budget
    carries_buckets = "sampling_bucket" in df and bool(df["sampling_bucket"].notna().any())
    health["sampling"] = {}  # a batch without sampling buckets has no budget to compare against
    if carries_buckets:
        counts = df["sampling_bucket"].fillna("unspecified").value_counts()
        shares = {str(k): float(v / max(1, rows)) for k, v in counts.items()}
        health["sampling"] = {
            bucket: {"share": shares.get(bucket, 0.0), "budget": budget.get(bucket), "rows": int(counts.get(bucket, 0))}
            for bucket in sorted(set(shares) | set(budget))
        }
    health["warnings"] = dict(sorted((warnings or {}).items()))
    if critic_scores is not None and rows and health["task_type"] == "pairwise":
        agreement_c = critic_agreement(whole, critic_scores, config.critic)
        ranked = triage(whole, critic_scores, config.critic)
        top = ranked[ranked["category"] != "other"].head(5)
        health["critic"] = {
            "dimensions": agreement_c["dimensions"],
            "flagged_raters": {r: agreement_c["raters"][r]["reason"] for r in agreement_c["flagged_raters"]},
            "contradictions": int((ranked["category"] == "contradicts").sum()),
            "top_disagreements": [{"item_id": r.item_id, "dimension": r.dimension, "reason": r.reason} for r in top.itertuples()],
        }
    if "suggestion" in df.columns and df["suggestion"].notna().any():
        check = anchoring(whole, config.critic)
        health["anchoring"] = {"wrong_suggestions": check["wrong_suggestions"],
                               "flagged_raters": {r: check["raters"][r]["reason"] for r in check["flagged_raters"]}}
    dim_verdicts = [d.get("verdict") for d in agreement["dimensions"].values()]
    if "fail" in dim_verdicts:
        verdict = "fail"
    elif (health["flagged_raters"] or "inconclusive" in dim_verdicts
          or (health.get("critic") or {}).get("flagged_raters") or (health.get("anchoring") or {}).get("flagged_raters")):
        verdict = "warn"
    else:
        verdict = "pass"
    health["verdict"] = verdict
    return health


def without_raters(df: pd.DataFrame, rater_ids: list[str]) -> pd.DataFrame:
    """``df`` without the judgments of ``rater_ids`` (given raw or pseudonymized)."""
    return drop_excluded(df, list(rater_ids))
