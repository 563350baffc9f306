"""A critic model beside the human labels: disagreement triage, critic agreement, anchoring.

A *critic* (the current reward model, or a judge model) scores every response of a batch
(:mod:`alignment_ci.evals.critics`). Its scores never replace a human label. They serve
three reviews, each a pure function over the canonical frame and the score table:

- :func:`triage` ranks items for adjudication and audits: first the items whose human
  consensus contradicts a confident critic, then the items where the critic is unsure and
  the humans split, then the rest by how much probability the critic gives the answer
  the humans did not pick. Auditing the top of this list finds planted or real label
  errors far faster than a random audit (``bench/critic_bench.py``).
- :func:`critic_agreement` measures how often the critic and the consensus agree, per
  dimension and per rater, and flags a rater who disagrees with *both* the consensus and
  a confident critic on many items: a stronger signal than disagreeing with peers alone.
- :func:`anchoring` checks whether raters accept prefilled suggestions blindly: gold items
  occasionally carry a deliberately wrong suggestion (``critic.anchoring``), and a rater
  who accepts most of those is flagged ("accepted 9 of 10 wrong suggestions on gold items").

Pairwise batches only: a critic's pairwise preference is the Bradley–Terry probability
``P(a ≻ b) = σ(s·(r_a − r_b))`` of its two scores. The scale ``s`` is calibrated on the
batch's gold items by Platt scaling (logistic regression without intercept, scikit-learn)
when there are at least ``critic.min_gold_for_calibration`` of them; otherwise ``s = 1``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..config import CriticSettings
from ..errors import InputError
from ..jsonl import read_objects
from .aggregate import decide_items, dimension_votes
from .. import lazy

pd = lazy.module("pandas")

SCORE_COLUMNS = ("item_id", "response", "score")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))


def pairwise_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per item: ``score_a``, ``score_b`` and the ``margin`` ``score_a - score_b``.

    ``scores`` is the critic's table (``item_id``, ``response`` in {``a``, ``b``}, ``score``).
    """
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise InputError(f"critic scores: missing column(s) {', '.join(missing)} (expected {', '.join(SCORE_COLUMNS)})")
    wide = scores.pivot_table(index="item_id", columns="response", values="score", aggfunc="first")
    if "a" not in wide or "b" not in wide:
        raise InputError("critic scores: pairwise items need a score for response `a` and for response `b`")
    out = pd.DataFrame({"score_a": wide["a"], "score_b": wide["b"]}).dropna()
    out["margin"] = out["score_a"] - out["score_b"]
    return out


def _gold_answers(df: pd.DataFrame) -> pd.Series:
    """Item → gold choice (a/b) of the batch's gold items."""
    if "gold_choice" not in df:
        return pd.Series(dtype=object)
    gold = df.loc[df["gold_choice"].isin(["a", "b"]), ["item_id", "gold_choice"]]
    return gold.drop_duplicates("item_id").set_index("item_id")["gold_choice"]


def calibration_scale(margins: pd.Series, gold: pd.Series, settings: CriticSettings) -> tuple[float, int]:
    """Platt scale ``s`` of ``P(a ≻ b) = σ(s·margin)`` fitted on gold items, and how many were used.

    Too few gold items (or all one answer) give ``s = 1``: the raw margin as a log-odds.
    """
    from sklearn.linear_model import LogisticRegression

    common = gold.index.intersection(margins.index)
    y = (gold.loc[common] == "a").astype(int).to_numpy()
    if len(common) < settings.min_gold_for_calibration or len(set(y)) < 2:
        return 1.0, int(len(common))
    x = margins.loc[common].to_numpy(dtype=float).reshape(-1, 1)
    model = LogisticRegression(fit_intercept=False, C=1e6).fit(x, y)
    scale = float(model.coef_[0][0])
    return (scale if scale > 0 else 1.0), int(len(common))


def critic_view(df: pd.DataFrame, scores: pd.DataFrame, settings: CriticSettings) -> pd.DataFrame:
    """Per item: the critic's ``p_a`` = P(a ≻ b), its ``critic_choice`` and ``critic_confidence``.

    ``critic_confidence`` is the probability of the critic's own answer (0.5 … 1).
    """
    table = pairwise_scores(scores)
    scale, n_gold = calibration_scale(table["margin"], _gold_answers(df), settings)
    table["p_a"] = _sigmoid(scale * table["margin"].to_numpy())
    table["critic_choice"] = np.where(table["p_a"] >= 0.5, "a", "b")
    table["critic_confidence"] = np.maximum(table["p_a"], 1.0 - table["p_a"])
    table.attrs.update(scale=scale, calibration_gold_items=n_gold)
    return table


def consensus(df: pd.DataFrame) -> pd.DataFrame:
    """Per (item, dimension): the majority answer of the humans and its vote share."""
    if df.empty:
        return pd.DataFrame(columns=["item_id", "dimension", "consensus", "share", "n_judgments", "is_gold"])
    if str(df["task_type"].iloc[0]) != "pairwise":
        raise InputError(f"critic triage works on pairwise batches; this batch is {df['task_type'].iloc[0]}")
    rows = []
    for dv in dimension_votes(df):
        for d in decide_items(dv, "majority"):
            rows.append({"item_id": d.item_id, "dimension": d.dimension, "consensus": d.choice,
                         "share": float(d.confidence), "n_judgments": d.n_judgments, "is_gold": d.is_gold})
    return pd.DataFrame(rows)


def _joined(df: pd.DataFrame, scores: pd.DataFrame, settings: CriticSettings) -> pd.DataFrame:
    view = critic_view(df, scores, settings)
    cons = consensus(df)
    joined = cons.merge(view, left_on="item_id", right_index=True, how="inner")
    joined.attrs.update(view.attrs)
    return joined


def triage(df: pd.DataFrame, scores: pd.DataFrame, settings: CriticSettings) -> pd.DataFrame:
    """Items ranked for adjudication and audits, most suspicious first.

    Columns: ``rank``, ``item_id``, ``dimension``, ``consensus``, ``share``, ``critic_choice``,
    ``critic_confidence``, ``p_other`` (the critic's probability of the answer the humans
    did not pick), ``category`` (``contradicts``, ``unsure_split``, ``other``) and ``reason``.
    """
    j = _joined(df, scores, settings)
    if j.empty:
        return j.assign(rank=[], p_other=[], category=[], reason=[])
    decided = j["consensus"].isin(["a", "b"])
    j["p_other"] = np.where(j["consensus"] == "a", 1.0 - j["p_a"], np.where(j["consensus"] == "b", j["p_a"], 0.5))
    contradicts = decided & (j["critic_choice"] != j["consensus"]) & (j["critic_confidence"] >= settings.confident)
    unsure_split = ~contradicts & (j["critic_confidence"] < settings.unsure) & (j["share"] < settings.split_share)
    j["category"] = np.select([contradicts, unsure_split], ["contradicts", "unsure_split"], "other")
    order = {"contradicts": 0, "unsure_split": 1, "other": 2}
    # contradictions: the more confident the critic and the firmer the humans, the likelier a label error
    j["_key"] = np.select(
        [contradicts, unsure_split],
        [-(j["critic_confidence"] * j["share"]), -(1.0 - j["share"])],
        -j["p_other"],
    )
    j["_cat"] = j["category"].map(order)
    j = j.sort_values(["_cat", "_key", "item_id", "dimension"], kind="mergesort").drop(columns=["_cat", "_key"])
    j["reason"] = [_reason(r) for r in j.itertuples()]
    j.insert(0, "rank", np.arange(1, len(j) + 1))
    return j.reset_index(drop=True)


def _reason(r: Any) -> str:
    share = f"{r.share:.0%} of {r.n_judgments} raters"
    if r.category == "contradicts":
        return f"humans chose {r.consensus} ({share}); the critic prefers {r.critic_choice} with p = {r.critic_confidence:.2f}"
    if r.category == "unsure_split":
        return f"raters split ({r.consensus} by {share}) and the critic is unsure (p = {r.critic_confidence:.2f})"
    return f"humans chose {r.consensus} ({share}); critic gives the other answer p = {r.p_other:.2f}"


def critic_agreement(df: pd.DataFrame, scores: pd.DataFrame, settings: CriticSettings) -> dict[str, Any]:
    """Agreement of the critic with the human consensus (per dimension) and with each rater.

    A rater is flagged when, on more than ``stronger_flag_share`` of their a/b judgments
    (and at least ``stronger_flag_min`` of them), they chose against a consensus that a
    confident critic shares: they disagree with both the other humans and the critic.
    """
    j = _joined(df, scores, settings)
    dims: dict[str, Any] = {}
    for dim, part in j.groupby("dimension", sort=True):
        decided = part[part["consensus"].isin(["a", "b"])]
        confident = decided[decided["critic_confidence"] >= settings.confident]
        dims[str(dim)] = {
            "items": int(len(decided)),
            "agreement": float((decided["critic_choice"] == decided["consensus"]).mean()) if len(decided) else None,
            "confident_items": int(len(confident)),
            "confident_agreement": float((confident["critic_choice"] == confident["consensus"]).mean()) if len(confident) else None,
        }
    per_item = j.set_index(["item_id", "dimension"])
    judged = df.loc[df["choice"].isin(["a", "b"]), ["item_id", "dimension", "rater_id", "choice"]]
    judged = judged.join(per_item[["consensus", "critic_choice", "critic_confidence"]], on=["item_id", "dimension"], how="inner")
    both_against = (
        (judged["choice"] != judged["consensus"])
        & (judged["consensus"] == judged["critic_choice"])
        & (judged["critic_confidence"] >= settings.confident)
    )
    raters: dict[str, Any] = {}
    for rater, part in judged.assign(both_against=both_against).groupby("rater_id", sort=True):
        n = int(len(part))
        against = int(part["both_against"].sum())
        flagged = against >= settings.stronger_flag_min and against / max(1, n) > settings.stronger_flag_share
        raters[str(rater)] = {
            "n": n,
            "critic_agreement": float((part["choice"] == part["critic_choice"]).mean()) if n else None,
            "against_consensus_and_critic": against,
            "flagged": bool(flagged),
            "reason": (f"disagreed with both the consensus and a confident critic on {against} of {n} items"
                       if flagged else None),
        }
    return {
        "calibration": {"scale": j.attrs.get("scale", 1.0), "gold_items": j.attrs.get("calibration_gold_items", 0)},
        "dimensions": dims,
        "raters": raters,
        "flagged_raters": sorted(r for r, v in raters.items() if v["flagged"]),
    }


def anchoring(df: pd.DataFrame, settings: CriticSettings) -> dict[str, Any]:
    """Per rater: how many deliberately wrong suggestions on gold items they accepted.

    A wrong suggestion is a prefilled ``suggestion`` that differs from the item's
    ``gold_choice``; accepting it means answering exactly the suggestion.
    """
    needed = {"suggestion", "gold_choice", "choice"}
    if not needed <= set(df.columns):
        return {"raters": {}, "flagged_raters": [], "wrong_suggestions": 0}
    shown = df[df["suggestion"].isin(["a", "b", "tie"]) & df["gold_choice"].isin(["a", "b", "tie"])]
    wrong = shown[shown["suggestion"] != shown["gold_choice"]]
    raters: dict[str, Any] = {}
    for rater, part in wrong.groupby("rater_id", sort=True):
        n = int(len(part))
        accepted = int((part["choice"] == part["suggestion"]).sum())
        flagged = n >= settings.anchoring.min_wrong and accepted / n > settings.anchoring.max_accept_share
        raters[str(rater)] = {
            "wrong_shown": n,
            "accepted": accepted,
            "accept_share": accepted / n,
            "flagged": bool(flagged),
            "reason": f"accepted {accepted} of {n} wrong suggestions on gold items" if flagged else None,
        }
    return {
        "raters": raters,
        "flagged_raters": sorted(r for r, v in raters.items() if v["flagged"]),
        "wrong_suggestions": int(len(wrong)),
    }


def read_ranking(path: str | Path) -> pd.DataFrame:
    """A triage ranking written by ``critic triage --out`` (JSON Lines with ``item_id``, ``dimension``,
    ``rank``, ``category``, ``reason``)."""
    rows = []
    for lineno, obj in read_objects(path):
        if not {"item_id", "dimension", "rank"} <= set(obj):
            raise InputError(f"{path}:{lineno}: a ranking line needs item_id, dimension and rank (write it with `critic triage --out`)")
        rows.append(obj)
    frame = pd.DataFrame(rows, columns=["rank", "item_id", "dimension", "category", "reason"])
    frame["category"] = frame["category"].fillna("other")
    frame["reason"] = frame["reason"].fillna("")
    return frame
