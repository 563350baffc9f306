"""Training pairs from aggregated judgments, in TRL's preference format.

``alignment-ci quality pairs FILE --method M --out pairs.jsonl`` writes one JSON object
per line: ``prompt``, ``chosen``, ``rejected`` (TRL's standard, non-conversational
preference format, as read by ``RewardTrainer`` and ``DPOTrainer``), ``weight`` (the
aggregation confidence, in [0, 1]) and ``item_id``, ``dimension``, ``batch_id`` for
lineage.

Where pairs come from, per task type:

- pairwise: one candidate pair per item; ``a`` → chosen = ``response_a``.
- ranking: one candidate per pair of responses of an item (the rankings' implied
  preferences). With ``borda`` the consensus order orients the pair and the weight is
  the (weighted) share of raters who ordered that pair the same way; other methods
  decide each response pair on its own.
- likert: responses to the same prompt (same dimension) are paired by their aggregated
  ratings, higher = chosen; the weight is the lower of the two confidences.

Candidates are excluded, and counted by reason, in this order: ``gold`` (gold items are
for checking raters and models, not for training), ``no_judgment`` (every rater
skipped), ``tie`` (the decision is a tie, or equal likert ratings), ``low_confidence``
(weight below ``quality.pair_min_confidence``). For likert the ``gold`` and
``no_judgment`` counts are of items, the others of candidate pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Any


from ..config import Config
from ..errors import InputError
from .aggregate import (
    ITEM_METHODS,
    DimensionVotes,
    ItemDecision,
    check_weights,
    vote_table,
    decide_items,
    dimension_votes,
)
from .. import lazy

pd = lazy.module("pandas")

EXCLUSION_REASONS = ("gold", "no_judgment", "tie", "low_confidence")


def _batch_ids(df: pd.DataFrame) -> dict[str, str]:
    if "batch_id" not in df.columns:
        return {}
    return {str(k): str(v) for k, v in df.groupby(df["item_id"].astype(str))["batch_id"].first().items()}


def _pair(prompt: Any, chosen: Any, rejected: Any, weight: float, item_id: str, dim: str, batch: str | None) -> dict[str, Any]:
    return {
        "prompt": str(prompt),
        "chosen": str(chosen),
        "rejected": str(rejected),
        "weight": float(weight),
        "item_id": item_id,
        "dimension": dim,
        "batch_id": batch,
    }


def _compared_pairs(
    dv: DimensionVotes,
    decisions: list[ItemDecision],
    threshold: float,
    include_gold: bool,
    batches: dict[str, str],
    excluded: dict[str, int],
) -> list[dict[str, Any]]:
    out = []
    for d in decisions:
        info = dv.items.loc[d.key]
        if d.is_gold and not include_gold:
            excluded["gold"] += 1
        elif d.choice is None:
            excluded["no_judgment"] += 1
        elif d.choice == "tie":
            excluded["tie"] += 1
        elif d.confidence < threshold:
            excluded["low_confidence"] += 1
        else:
            chosen, rejected = (info["first"], info["second"]) if d.choice == "a" else (info["second"], info["first"])
            out.append(_pair(info["prompt"], chosen, rejected, d.confidence, d.item_id, d.dimension, batches.get(d.item_id)))
    return out


def _borda_pair_decisions(dv: DimensionVotes, weights: Mapping[str, float] | None) -> list[ItemDecision]:
    """Each response pair oriented by the Borda consensus, weighted by the raters' agreement with it."""
    consensus = {d.item_id: d for d in decide_items(dv, "borda", weights=weights)}
    shares = vote_table(dv, weights)
    totals = shares.sum(axis=1)
    decisions = []
    for key, info in dv.items.iterrows():
        item = consensus[info["item_id"]]
        p, q = info["pair"]
        if item.choice is None or totals[key] <= 0:
            decisions.append(ItemDecision(str(key), item.item_id, dv.dimension, None, 0.0, 0, item.is_gold))
            continue
        order = list(item.choice)
        label = "a" if order.index(p) < order.index(q) else "b"
        share = float(shares.at[key, label] / totals[key]) if label in shares.columns else 0.0
        decisions.append(ItemDecision(str(key), item.item_id, dv.dimension, label, share, item.n_judgments, item.is_gold))
    return decisions


def _likert_pairs(
    dv: DimensionVotes,
    decisions: list[ItemDecision],
    threshold: float,
    include_gold: bool,
    batches: dict[str, str],
    excluded: dict[str, int],
) -> list[dict[str, Any]]:
    by_prompt: dict[str, list[tuple[ItemDecision, Any]]] = {}
    for d in decisions:
        if d.is_gold and not include_gold:
            excluded["gold"] += 1
            continue
        if d.choice is None:
            excluded["no_judgment"] += 1
            continue
        info = dv.items.loc[d.key]
        by_prompt.setdefault(str(info["prompt"]), []).append((d, info["first"]))
    out = []
    for prompt, group in by_prompt.items():
        for (d1, r1), (d2, r2) in combinations(group, 2):
            if d1.choice == d2.choice:
                excluded["tie"] += 1
                continue
            weight = min(d1.confidence, d2.confidence)
            if weight < threshold:
                excluded["low_confidence"] += 1
                continue
            (hi, hi_text), (lo, lo_text) = ((d1, r1), (d2, r2)) if d1.choice > d2.choice else ((d2, r2), (d1, r1))
            # Lineage names the item whose response is chosen.
            out.append(_pair(prompt, hi_text, lo_text, weight, hi.item_id, dv.dimension, batches.get(hi.item_id)))
    return out


def training_pairs(
    df: pd.DataFrame,
    method: str,
    config: Config | None = None,
    *,
    weights: Mapping[str, float] | None = None,
    min_confidence: float | None = None,
    gold_pinned: bool = True,
    include_gold: bool = False,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Preference pairs from a canonical label DataFrame, and the excluded counts by reason.

    ``min_confidence`` defaults to ``config.quality.pair_min_confidence``; ``weights`` are
    the per-rater weights of the ``weighted`` method (optional for ``borda``).
    """
    if method not in ITEM_METHODS:
        raise InputError(
            f"training pairs need a per-item decision; method {method!r} is not one of {', '.join(ITEM_METHODS)}"
            + (" (bradley-terry scores entities, not items)" if method == "bradley-terry" else "")
        )
    config = config or Config()
    threshold = config.quality.pair_min_confidence if min_confidence is None else float(min_confidence)
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"min_confidence must lie in [0, 1], got {threshold}")
    if method == "weighted" or weights is not None:
        weights = check_weights(df, weights)
    batches = _batch_ids(df)
    excluded = dict.fromkeys(EXCLUSION_REASONS, 0)
    pairs: list[dict[str, Any]] = []
    for dv in dimension_votes(df):
        if dv.task_type == "ranking" and method == "borda":
            decisions = _borda_pair_decisions(dv, weights)
        else:
            decisions = decide_items(dv, method, weights=weights, gold_pinned=gold_pinned)
        if dv.task_type == "likert":
            pairs += _likert_pairs(dv, decisions, threshold, include_gold, batches, excluded)
        else:
            pairs += _compared_pairs(dv, decisions, threshold, include_gold, batches, excluded)
    return pairs, excluded
