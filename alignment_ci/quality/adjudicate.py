"""The adjudication list: the second pass of the two-pass labelling policy.

First pass: raters label. Second pass: an adjudicator decides every item whose raters
disagree on a dimension the taxonomy marks ``critical`` (by default
``factual_accuracy`` and ``safety``). ``alignment-ci quality adjudicate FILE --out FILE``
writes one JSON object per item, with the competing judgments.

Disagreement, per task type (skips are abstentions and never disagree; an item needs at
least two non-skip judgments to disagree):

- pairwise: more than one distinct choice among ``a``/``b``/``tie``;
- likert: highest minus lowest rating exceeds ``likert_tolerance`` (default 0: any
  difference);
- ranking: more than one distinct ranking.

Gold items with a known answer are left out: their answer is already decided.

The file is data for the adjudication tool: vendor text (prompt, responses, rationales)
is written raw, not escaped; rater ids that look like e-mail addresses or phone numbers
are pseudonymised (DESIGN: an e-mail address is PII, redacted in outputs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import Config
from ..data.contract import LINE
from ..textsafety import pseudonymize
from .aggregate import gold_flags, is_missing, task_type_of
from .. import lazy

pd = lazy.module("pandas")

_ANSWER = {"pairwise": "choice", "likert": "rating", "ranking": "ranking"}
_GOLD = {"pairwise": "gold_choice", "likert": "gold_rating", "ranking": "gold_ranking"}
_CONTENT = {"pairwise": ("response_a", "response_b"), "likert": ("response",), "ranking": ("responses",)}


def _plain(value: Any) -> Any:
    """JSON-ready Python value (numpy scalars and arrays, missing values as None)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if is_missing(value):
        return None
    return value


def _disagree(task_type: str, answers: list[Any], likert_tolerance: int) -> bool:
    if len(answers) < 2:
        return False
    if task_type == "likert":
        return max(answers) - min(answers) > likert_tolerance
    if task_type == "ranking":
        return len({tuple(a) for a in answers}) > 1
    return len(set(answers)) > 1


def adjudication_list(
    df: pd.DataFrame,
    config: Config | None = None,
    *,
    likert_tolerance: int = 0,
    ranking: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Items whose judgments disagree on a critical dimension, with every judgment.

    With a critic ``ranking`` (:func:`alignment_ci.quality.critic.triage`), items whose consensus
    contradicts a confident critic (any dimension) join the list with reason ``critic``, and the
    list is ordered by the ranking (most suspicious first) instead of the batch order.

    Each entry: ``batch_id``, ``item_id``, ``dimension``, ``task_type``, ``reason``
    (``disagreement``), ``prompt``, the compared text(s), ``counts`` (answer → number of
    judgments; rankings keyed by their indices joined with ``>``) and ``judgments``
    (``rater_id``, the answer, ``rationale`` and ``line`` when present, skips included).
    """
    config = config or Config()
    critical = {d.name for d in config.taxonomy.dimensions if d.critical}
    if df.empty:
        return []
    task_type = task_type_of(df)
    answer_col = _ANSWER[task_type]
    gold_col = _GOLD[task_type]
    df = df.assign(_gold_flag=gold_flags(df))
    entries: list[dict[str, Any]] = []
    flagged: dict[tuple[str, str], str] = {}
    order: dict[tuple[str, str], int] = {}
    if ranking is not None and len(ranking):
        order = {(str(i), str(d)): int(r) for i, d, r in zip(ranking["item_id"], ranking["dimension"], ranking["rank"])}
        hits = ranking[ranking["category"] == "contradicts"]
        flagged = {(str(i), str(d)): str(why) for i, d, why in zip(hits["item_id"], hits["dimension"], hits["reason"])}
    for (item_id, dim), part in df.groupby(["item_id", "dimension"], sort=False):
        critic_reason = flagged.get((str(item_id), str(dim)))
        if str(dim) not in critical and critic_reason is None:
            continue
        if gold_col in part.columns and part["_gold_flag"].any():
            if any(not is_missing(v) for v in part[gold_col]):
                continue
        judgments = []
        answers = []
        for row in part.to_dict("records"):
            answer = _plain(row[answer_col])
            judgment: dict[str, Any] = {"rater_id": pseudonymize(str(row["rater_id"])), answer_col: answer}
            if not is_missing(row.get("rationale")):
                judgment["rationale"] = row["rationale"]
            if LINE in row and not is_missing(row[LINE]):
                judgment["line"] = int(row[LINE])
            judgments.append(judgment)
            if answer is None or answer == "skip":
                continue
            answers.append(answer)
        if not _disagree(task_type, answers, likert_tolerance) and critic_reason is None:
            continue
        counts: dict[str, int] = {}
        for a in answers:
            key = ">".join(map(str, a)) if task_type == "ranking" else str(a)
            counts[key] = counts.get(key, 0) + 1
        first = part.iloc[0]
        entry: dict[str, Any] = {
            "batch_id": _plain(first.get("batch_id")),
            "item_id": str(item_id),
            "dimension": str(dim),
            "task_type": task_type,
            "reason": "disagreement" if _disagree(task_type, answers, likert_tolerance) and str(dim) in critical else "critic",
            "prompt": _plain(first["prompt"]),
        }
        if critic_reason is not None:
            entry["critic"] = critic_reason
        for col in _CONTENT[task_type]:
            entry[col] = _plain(first[col])
        entry["counts"] = dict(sorted(counts.items()))
        entry["judgments"] = judgments
        entries.append(entry)
    if order:
        entries.sort(key=lambda e: order.get((e["item_id"], e["dimension"]), len(order) + 1))
    return entries
