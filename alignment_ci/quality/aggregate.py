"""Aggregation of judgments into one decision per item, or strengths per entity.

Methods (``alignment-ci quality aggregate FILE --method M``):

- ``majority``: plurality of the judgments; confidence = the winning label's vote share.
- ``weighted``: the same with each judgment weighted by its rater's weight (a
  reliability in [0, 1], see ``quality.raters``); confidence = weight share. Without
  weights there is nothing to weight, so the caller must pass them.
- ``dawid-skene``: Dawid & Skene (1979) EM over per-rater confusion matrices, gold items
  pinned to their answers (:mod:`.dawid_skene`); confidence = posterior probability.
- ``borda``: Borda count for rankings (Borda 1781: a response ranked r-th of K scores
  K − r points); confidence = share of the raters' pairwise preferences that agree
  with the consensus order.
- ``bradley-terry``: strengths of the compared entities (``model_a``/``model_b`` when
  every comparison names both, else the responses, identified by :func:`response_id`),
  natural log, mean-centred, unregularised MLE (:mod:`.bradley_terry`), with the
  first-shown effect as ``position_bias`` when asked for.

Ties, skips and draws, explicitly:

- ``skip`` is an abstention, not a judgment: it is dropped before aggregating. An item
  whose judgments are all skips gets ``choice: null, confidence: 0.0``.
- ``tie`` is a label of its own for majority, weighted and Dawid–Skene (a tie item can
  win); in Bradley–Terry a tie counts as half a win for each side.
- A draw between leading labels in a pairwise vote (say 2 × ``a``, 2 × ``b``) gives
  ``choice: "tie"`` with the leading share as confidence: the raters expressed no
  preference. A draw between likert ratings goes to the lower rating (conservative).
- Rankings are expanded into the pairwise preferences they imply: responses ``p < q``
  (positions in ``responses``, the order shown) become item ``"<item_id>#p-q"`` with
  label ``a`` when ``p`` is ranked above ``q``. Majority, weighted and Dawid–Skene then
  decide each such pair; Bradley–Terry fits on them; Borda works on the rankings.

Every batch is aggregated per dimension. The JSON keeps the contract's ``items`` (or
``scores``) for the primary dimension (the only one, else the taxonomy's default when
present, else the first by name), names it in ``dimension``, and adds ``by_dimension``
with the same structure for every dimension.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import Config
from ..errors import InputError
from .bradley_terry import BTResult, bradley_terry
from .dawid_skene import DawidSkene
from .. import lazy

pd = lazy.module("pandas")

ITEM_METHODS = ("majority", "weighted", "dawid-skene", "borda")
METHODS = (*ITEM_METHODS, "bradley-terry")
PAIR_LABELS = ("a", "b", "tie")


def response_id(text: str) -> str:
    """Stable id of a response text: ``r-`` and the first 16 hex digits of its SHA-256."""
    return "r-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class ItemDecision:
    """The aggregated decision for one item (or one response pair of a ranking item).

    ``choice`` is ``a``/``b``/``tie`` (pairwise and ranking pairs), a rating (likert), a
    ranking (Borda: response indices, best first) or None when every judgment skipped.
    """

    key: str
    item_id: str
    dimension: str
    choice: Any
    confidence: float
    n_judgments: int
    is_gold: bool


@dataclass
class DimensionVotes:
    """Judgments of one dimension in a uniform form.

    ``votes``: one row per non-skip judgment: ``key`` (item, or item#p-q for ranking pairs),
    ``item_id``, ``rater_id``, ``label``; ``items``: one row per key with ``item_id``,
    ``is_gold``, ``gold`` (label or None), ``prompt``, ``first``/``second`` (the two texts
    compared; likert: ``first`` is the response) and ``pair`` ((p, q) for ranking pairs).
    """

    dimension: str
    task_type: str
    votes: pd.DataFrame
    items: pd.DataFrame
    rankings: pd.DataFrame | None = None  # ranking batches: the raw rows, for Borda


# --------------------------------------------------------------------------- input


def _column(df: pd.DataFrame, name: str, default: Any = None) -> pd.Series:
    if name in df.columns:
        return df[name]
    return pd.Series([default] * len(df), index=df.index, dtype=object)


def is_missing(value: Any) -> bool:
    """None, NaN or pd.NA (a list, even empty, is a value)."""
    if value is None or value is pd.NA:
        return True
    return isinstance(value, (float, np.floating)) and bool(np.isnan(value))


def task_type_of(df: pd.DataFrame) -> str:
    """The batch's one task type; mixed or unknown types are input errors."""
    if "task_type" not in df.columns:
        raise InputError("the label batch has no task_type column")
    kinds = sorted(set(df["task_type"].dropna().astype(str)))
    if len(kinds) != 1:
        raise InputError(
            f"a label batch has one task_type; found {kinds or 'none'}: split the file by task type"
        )
    if kinds[0] not in ("pairwise", "likert", "ranking"):
        raise InputError(f"unknown task_type {kinds[0]!r}: expected pairwise, likert or ranking")
    return kinds[0]


def gold_flags(df: pd.DataFrame) -> pd.Series:
    """``is_gold`` per row, False where absent."""
    return _column(df, "is_gold", False).fillna(False).astype(bool)


def _first_present(values: pd.Series) -> Any:
    return next((v for v in values if not is_missing(v)), None)


def _item_table(df: pd.DataFrame, gold_column: str, first: str, second: str | None) -> pd.DataFrame:
    """One row per item: gold flag, gold answer (only on gold items), prompt and texts."""
    df = df.assign(_key=df["item_id"].astype(str), _flag=gold_flags(df), _gold=_column(df, gold_column))
    grouped = df.groupby("_key", sort=False)
    is_gold = grouped["_flag"].any()
    gold = grouped["_gold"].agg(_first_present)
    head = grouped.first()
    items = pd.DataFrame(
        {
            "item_id": is_gold.index,
            "is_gold": is_gold.to_numpy(),
            "gold": [g if flag else None for g, flag in zip(gold, is_gold)],
            "prompt": head["prompt"].to_numpy(),
            "first": head[first].to_numpy(),
            "second": head[second].to_numpy() if second else None,
            "pair": None,
        },
        index=pd.Index(is_gold.index, name="key"),
    )
    return items


def _pairwise_votes(dim: str, df: pd.DataFrame) -> DimensionVotes:
    items = _item_table(df, "gold_choice", "response_a", "response_b")
    judged = df[df["choice"].astype(str) != "skip"]
    votes = pd.DataFrame(
        {
            "key": judged["item_id"].astype(str).to_numpy(),
            "item_id": judged["item_id"].astype(str).to_numpy(),
            "rater_id": judged["rater_id"].astype(str).to_numpy(),
            "label": judged["choice"].astype(str).to_numpy(),
        }
    )
    return DimensionVotes(dim, "pairwise", votes, items)


def _likert_votes(dim: str, df: pd.DataFrame) -> DimensionVotes:
    items = _item_table(df, "gold_rating", "response", None)
    items["gold"] = [None if is_missing(g) else int(g) for g in items["gold"]]
    rated = df[df["rating"].notna()]
    votes = pd.DataFrame(
        {
            "key": rated["item_id"].astype(str).to_numpy(),
            "item_id": rated["item_id"].astype(str).to_numpy(),
            "rater_id": rated["rater_id"].astype(str).to_numpy(),
            "label": rated["rating"].astype(int).to_numpy(),
        }
    )
    return DimensionVotes(dim, "likert", votes, items)


def _ranking_positions(ranking: Any, n: int, where: str) -> list[int]:
    order = [int(i) for i in ranking]
    if sorted(order) != list(range(n)):
        raise InputError(f"{where}: ranking {order} is not a permutation of 0..{n - 1}")
    pos = [0] * n
    for rank, idx in enumerate(order):
        pos[idx] = rank
    return pos


def _ranking_votes(dim: str, df: pd.DataFrame) -> DimensionVotes:
    vote_rows: list[tuple[str, str, str, str]] = []
    pair_rows: dict[str, dict[str, Any]] = {}
    gold_pos: dict[str, list[int]] = {}
    is_gold: dict[str, bool] = {}
    for row, flag, gold_rank in zip(
        df.to_dict("records"), gold_flags(df), _column(df, "gold_ranking")
    ):
        item = str(row["item_id"])
        responses = [str(r) for r in row["responses"]]
        n = len(responses)
        where = f"item {item!r}, rater {row['rater_id']!r}"
        pos = _ranking_positions(row["ranking"], n, where)
        is_gold[item] = is_gold.get(item, False) or bool(flag)
        if item not in gold_pos and not is_missing(gold_rank):
            gold_pos[item] = _ranking_positions(gold_rank, n, where + " (gold_ranking)")
        for p in range(n):
            for q in range(p + 1, n):
                key = f"{item}#{p}-{q}"
                if key not in pair_rows:
                    pair_rows[key] = {
                        "item_id": item,
                        "prompt": row["prompt"],
                        "first": responses[p],
                        "second": responses[q],
                        "pair": (p, q),
                    }
                vote_rows.append((key, item, str(row["rater_id"]), "a" if pos[p] < pos[q] else "b"))
    keys = list(pair_rows)
    items = pd.DataFrame(
        [pair_rows[k] for k in keys],
        index=pd.Index(keys, name="key"),
        columns=["item_id", "prompt", "first", "second", "pair"],
    )
    items["is_gold"] = [is_gold[pair_rows[k]["item_id"]] for k in keys]
    golds: list[str | None] = []
    for key in keys:
        item, (p, q) = pair_rows[key]["item_id"], pair_rows[key]["pair"]
        g = gold_pos.get(item) if is_gold[item] else None
        golds.append(None if g is None else ("a" if g[p] < g[q] else "b"))
    items["gold"] = golds
    votes = pd.DataFrame(vote_rows, columns=["key", "item_id", "rater_id", "label"])
    return DimensionVotes(dim, "ranking", votes, items, rankings=df)


def dimension_votes(df: pd.DataFrame) -> list[DimensionVotes]:
    """Split a canonical label DataFrame into per-dimension :class:`DimensionVotes`."""
    if df.empty:
        raise InputError("the label batch has no rows")
    missing = [c for c in ("item_id", "rater_id", "dimension", "prompt") if c not in df.columns]
    if missing:
        raise InputError(f"the label batch lacks required columns: {', '.join(missing)}")
    task_type = task_type_of(df)
    need = {"pairwise": ("response_a", "response_b", "choice"), "likert": ("response", "rating"), "ranking": ("responses", "ranking")}[task_type]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(f"a {task_type} batch needs columns {', '.join(need)}; missing: {', '.join(missing)}")
    build = {"pairwise": _pairwise_votes, "likert": _likert_votes, "ranking": _ranking_votes}[task_type]
    return [build(str(dim), part) for dim, part in df.groupby("dimension", sort=True)]


def primary_dimension(dimensions: list[str], config: Config | None) -> str:
    """The dimension reported under the contract's top-level ``items``/``scores``."""
    if len(dimensions) == 1:
        return dimensions[0]
    default = (config or Config()).taxonomy.default_dimension
    return default if default in dimensions else sorted(dimensions)[0]


# --------------------------------------------------------------------------- item methods


def _decide(table: pd.DataFrame, task_type: str) -> tuple[list[Any], list[float]]:
    """Choice and confidence per row of a (key × label) table of non-negative scores."""
    values = table.to_numpy(dtype=float)
    totals = values.sum(axis=1)
    labels = list(table.columns)
    choices: list[Any] = []
    confidences: list[float] = []
    for row, total in zip(values, totals):
        if total <= 0:
            choices.append(None)
            confidences.append(0.0)
            continue
        best = row.max()
        leaders = [labels[i] for i in np.flatnonzero(np.isclose(row, best, rtol=1e-12, atol=1e-12))]
        if len(leaders) == 1:
            choice = leaders[0]
        elif task_type == "likert":
            choice = min(leaders)
        else:
            choice = "tie"
        choices.append(int(choice) if task_type == "likert" else choice)
        confidences.append(float(best / total))
    return choices, confidences


def vote_table(dv: DimensionVotes, weights: Mapping[str, float] | None) -> pd.DataFrame:
    """(key × label) sums of vote weights (1 per judgment when ``weights`` is None)."""
    votes = dv.votes
    w = np.ones(len(votes)) if weights is None else votes["rater_id"].map(weights).to_numpy(dtype=float)
    table = (
        pd.DataFrame({"key": votes["key"], "label": votes["label"], "w": w})
        .groupby(["key", "label"], sort=True)["w"]
        .sum()
        .unstack(fill_value=0.0)
    )
    return table.reindex(dv.items.index, fill_value=0.0)


def check_weights(df: pd.DataFrame, weights: Mapping[str, float] | None) -> Mapping[str, float]:
    if weights is None:
        raise InputError(
            "the weighted vote needs a weight per rater (reliability scores from `alignment-ci quality raters`)"
        )
    raters = sorted(set(df["rater_id"].astype(str)))
    missing = [r for r in raters if r not in weights]
    if missing:
        raise InputError(f"no weight for {len(missing)} rater(s): {', '.join(missing[:5])}; every rater needs one")
    bad = {r: weights[r] for r in raters if not (np.isfinite(weights[r]) and weights[r] >= 0)}
    if bad:
        raise InputError(f"rater weights must be finite and non-negative; got {bad}")
    return weights


def _dawid_skene_table(dv: DimensionVotes, gold_pinned: bool) -> pd.DataFrame:
    data = dv.votes.rename(columns={"key": "task", "rater_id": "worker"})[["task", "worker", "label"]]
    gold = None
    if gold_pinned:
        g = dv.items["gold"]
        g = g[[not is_missing(v) for v in g]]
        gold = pd.Series(g.tolist(), index=g.index, dtype=object) if len(g) else None
    probas = DawidSkene().fit(data, gold).probas_
    return probas.reindex(dv.items.index, fill_value=0.0)


def _borda(dv: DimensionVotes, weights: Mapping[str, float] | None) -> list[ItemDecision]:
    assert dv.rankings is not None
    decisions = []
    for item, part in dv.rankings.groupby("item_id", sort=False):
        n = len(part.iloc[0]["responses"])
        points = np.zeros(n)
        positions = []
        ws = []
        for _, row in part.iterrows():
            w = 1.0 if weights is None else float(weights[str(row["rater_id"])])
            pos = _ranking_positions(row["ranking"], n, f"item {item!r}, rater {row['rater_id']!r}")
            points += w * (n - 1 - np.asarray(pos, dtype=float))
            positions.append(pos)
            ws.append(w)
        consensus = sorted(range(n), key=lambda i: (-points[i], i))
        cpos = _ranking_positions(consensus, n, f"item {item!r}")
        n_pairs = n * (n - 1) / 2
        agree = 0.0
        for pos, w in zip(positions, ws):
            concordant = sum(
                1 for p in range(n) for q in range(p + 1, n) if (pos[p] < pos[q]) == (cpos[p] < cpos[q])
            )
            agree += w * concordant / n_pairs
        total_w = sum(ws)
        decisions.append(
            ItemDecision(
                key=str(item),
                item_id=str(item),
                dimension=dv.dimension,
                choice=consensus if total_w > 0 else None,
                confidence=float(agree / total_w) if total_w > 0 else 0.0,
                n_judgments=len(part),
                is_gold=bool(gold_flags(part).any()),
            )
        )
    return decisions


def decide_items(
    dv: DimensionVotes,
    method: str,
    *,
    weights: Mapping[str, float] | None = None,
    gold_pinned: bool = True,
) -> list[ItemDecision]:
    """Aggregate one dimension's judgments with an item method (see the module docstring)."""
    if method == "borda":
        if dv.task_type != "ranking":
            raise InputError(f"borda aggregates rankings; this batch is {dv.task_type}: use majority, weighted or dawid-skene")
        return _borda(dv, weights)
    if method == "majority":
        table = vote_table(dv, None)
    elif method == "weighted":
        table = vote_table(dv, weights)
    elif method == "dawid-skene":
        table = _dawid_skene_table(dv, gold_pinned)
    else:
        raise InputError(f"unknown item method {method!r}: expected one of {', '.join(ITEM_METHODS)}")
    if dv.task_type != "likert":
        table = table.reindex(columns=[c for c in PAIR_LABELS if c in table.columns] + [c for c in table.columns if c not in PAIR_LABELS], fill_value=0.0)
    choices, confidences = _decide(table, dv.task_type)
    counts = dv.votes.groupby("key").size().reindex(dv.items.index, fill_value=0)
    return [
        ItemDecision(
            key=str(key),
            item_id=str(dv.items.at[key, "item_id"]),
            dimension=dv.dimension,
            choice=choice,
            confidence=conf,
            n_judgments=int(n),
            is_gold=bool(dv.items.at[key, "is_gold"]),
        )
        for key, choice, conf, n in zip(dv.items.index, choices, confidences, counts)
    ]


# --------------------------------------------------------------------------- Bradley–Terry


@dataclass(frozen=True)
class EntityScores:
    """Bradley–Terry output for one dimension: ``scores`` by entity id, ``entity`` kind."""

    dimension: str
    entity: str  # "model" or "response"
    scores: dict[str, float]
    position_bias: float | None
    n_comparisons: float
    fit: BTResult


def _comparisons(dv: DimensionVotes, df: pd.DataFrame) -> tuple[list[str], list[str], str]:
    """Entity ids of the first- and second-shown side of every vote."""
    keys = dv.votes["key"]
    use_models = (
        dv.task_type == "pairwise"
        and {"model_a", "model_b"} <= set(df.columns)
        and df["model_a"].notna().all()
        and df["model_b"].notna().all()
    )
    if use_models:
        # Models are read per judgment, in the order dv.votes was built from the same rows.
        per_row = df[df["choice"].astype(str) != "skip"]
        return per_row["model_a"].astype(str).tolist(), per_row["model_b"].astype(str).tolist(), "model"
    first = dv.items["first"].map(lambda t: response_id(str(t)))
    second = dv.items["second"].map(lambda t: response_id(str(t)))
    return first.reindex(keys).tolist(), second.reindex(keys).tolist(), "response"


def fit_entities(
    dv: DimensionVotes,
    df: pd.DataFrame,
    *,
    weights: Mapping[str, float] | None = None,
    position_effect: bool = False,
) -> EntityScores:
    """Bradley–Terry strengths for one dimension (see the module docstring)."""
    if dv.task_type == "likert":
        raise InputError("bradley-terry needs comparisons; a likert batch has ratings: use majority, weighted or dawid-skene")
    first, second, kind = _comparisons(dv, df)
    labels = dv.votes["label"].to_numpy()
    w = np.ones(len(labels)) if weights is None else dv.votes["rater_id"].map(weights).to_numpy(dtype=float)
    entities = sorted(set(first) | set(second))
    index = {e: i for i, e in enumerate(entities)}
    f = np.array([index[e] for e in first], dtype=np.int64)
    s = np.array([index[e] for e in second], dtype=np.int64)
    a_won = labels == "a"
    b_won = labels == "b"
    tie = labels == "tie"
    same = f == s
    if same.any():
        raise InputError(
            f"{int(same.sum())} comparison(s) put an entity against itself (same model or identical responses), "
            f"e.g. item {dv.votes['item_id'].iloc[int(np.flatnonzero(same)[0])]!r}: drop them before bradley-terry"
        )
    winners = np.concatenate([f[a_won], s[b_won], f[tie], s[tie]])
    losers = np.concatenate([s[a_won], f[b_won], s[tie], f[tie]])
    cw = np.concatenate([w[a_won], w[b_won], 0.5 * w[tie], 0.5 * w[tie]])
    winner_first = np.concatenate(
        [np.ones(a_won.sum(), bool), np.zeros(b_won.sum(), bool), np.ones(tie.sum(), bool), np.zeros(tie.sum(), bool)]
    )
    try:
        fit = bradley_terry(
            winners,
            losers,
            len(entities),
            winner_first if position_effect else None,
            weights=cw,
            labels=entities,
        )
    except InputError as exc:
        raise InputError(f"dimension {dv.dimension!r}: {exc}") from None
    order = np.argsort(-fit.strengths, kind="stable")
    scores = {entities[i]: float(fit.strengths[i]) for i in order}
    return EntityScores(dv.dimension, kind, scores, fit.position_bias, fit.n_comparisons, fit)


# --------------------------------------------------------------------------- entry point


def aggregate(
    df: pd.DataFrame,
    method: str,
    *,
    weights: Mapping[str, float] | None = None,
    gold_pinned: bool = True,
    position_effect: bool = False,
    config: Config | None = None,
) -> dict[str, Any]:
    """Aggregate a canonical label DataFrame; returns the CLI's JSON document.

    Item methods: ``{method, dimension, items: {key: {choice, confidence}}, by_dimension:
    {dim: {items}}}``; bradley-terry: ``{method, dimension, entity, scores, position_bias,
    n_comparisons, by_dimension: {dim: {entity, scores, position_bias, n_comparisons}}}``.
    """
    if method not in METHODS:
        raise InputError(f"unknown aggregation method {method!r}: expected one of {', '.join(METHODS)}")
    if position_effect and method != "bradley-terry":
        raise InputError("--position-effect applies to bradley-terry only")
    if method == "weighted" or (weights is not None and method in ("borda", "bradley-terry")):
        weights = check_weights(df, weights)
    elif method in ("majority", "dawid-skene"):
        weights = None  # these methods do not weight raters
    per_dim = dimension_votes(df)
    primary = primary_dimension([dv.dimension for dv in per_dim], config)
    if method == "bradley-terry":
        by_dim: dict[str, Any] = {}
        for dv in per_dim:
            part = df[df["dimension"].astype(str) == dv.dimension]
            es = fit_entities(dv, part, weights=weights, position_effect=position_effect)
            by_dim[dv.dimension] = {
                "entity": es.entity,
                "scores": es.scores,
                "position_bias": es.position_bias,
                "n_comparisons": es.n_comparisons,
            }
        return {"method": method, "dimension": primary, **by_dim[primary], "by_dimension": by_dim}
    by_dim = {}
    for dv in per_dim:
        decisions = decide_items(dv, method, weights=weights, gold_pinned=gold_pinned)
        by_dim[dv.dimension] = {"items": {d.key: {"choice": d.choice, "confidence": d.confidence} for d in decisions}}
    return {"method": method, "dimension": primary, "items": by_dim[primary]["items"], "by_dimension": by_dim}
