"""Prefilled suggestions, exported where raters work: Label Studio and Argilla.

A suggestion is the critic's answer to a pairwise item (``a`` or ``b``) with its
probability as the score. Raters accept or correct it; the label they submit is theirs.

- Label Studio: tasks in its import format with ``predictions`` (``model_version``,
  ``score`` and a ``result`` for the labeling config of ``alignment-ci labelstudio
  config``). The task's ``data`` also carries ``suggestion``, so the plain export (which
  lists predictions by id only) still tells the importer what was suggested.
- Argilla: records with ``suggestions`` (``question_name``, ``value``, ``score``,
  ``agent``), the form ``rg.Record(..., suggestions=[rg.Suggestion(...)])`` serializes to.

Policy for ``critical`` dimensions (safety, factual accuracy): a suggestion is never a
preselected answer. With ``critic.critical_prefill: hint`` the task carries the critic's
lean as text (``critic_hint``) for the rater to weigh; with ``none`` nothing. The final
label of a critical dimension is always a human's.

The anchoring probe: a share ``critic.anchoring.wrong_suggestion_rate`` of gold items gets
a deliberately wrong suggestion (the opposite of the gold answer), chosen by a seeded hash
of the item id so reruns pick the same items. :func:`alignment_ci.quality.critic.anchoring`
later counts how many of those each rater accepted.
"""

from __future__ import annotations

import hashlib
from typing import Any


from ..config import Config
from ..errors import InputError
from .. import lazy

pd = lazy.module("pandas")

LS_CHOICE = {"a": "A is better", "b": "B is better", "tie": "Tie"}
OTHER = {"a": "b", "b": "a", "tie": "a"}


def _probe(item_id: str, rate: float, seed: int) -> bool:
    """A deterministic coin with P(heads) = ``rate`` for an item."""
    digest = hashlib.sha256(f"{seed}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def suggestions(df: pd.DataFrame, view: pd.DataFrame, config: Config, *, seed: int = 0) -> pd.DataFrame:
    """Per (item, dimension) of ``df``: what to show the rater.

    ``view`` is :func:`alignment_ci.quality.critic.critic_view` (``critic_choice``,
    ``critic_confidence`` per item). Columns: ``item_id``, ``dimension``, ``mode``
    (``prefill``, ``hint`` or ``none``), ``suggestion``, ``score``, ``wrong_probe`` (a gold
    item given a deliberately wrong suggestion) and ``hint`` (text for critical dimensions).
    """
    critical = {d.name for d in config.taxonomy.dimensions if d.critical}
    settings = config.critic
    items = df.drop_duplicates(["item_id", "dimension"])
    rows = []
    for rec in items.itertuples(index=False):
        item_id, dim = str(rec.item_id), str(rec.dimension)
        if item_id not in view.index:
            raise InputError(f"item {item_id!r} has no critic score; score the batch with `alignment-ci critic score` first")
        choice = str(view.at[item_id, "critic_choice"])
        score = float(view.at[item_id, "critic_confidence"])
        gold = getattr(rec, "gold_choice", None)
        wrong = isinstance(gold, str) and gold in OTHER and _probe(item_id, settings.anchoring.wrong_suggestion_rate, seed)
        if wrong:
            choice = OTHER[gold]
        if dim in critical:
            mode = settings.critical_prefill
            hint = (f"The critic leans {choice.upper()} (p = {score:.2f}). It is only a hint: judge for yourself."
                    if mode == "hint" else None)
            rows.append({"item_id": item_id, "dimension": dim, "mode": mode, "suggestion": None, "score": score,
                         "wrong_probe": False, "hint": hint})
        else:
            rows.append({"item_id": item_id, "dimension": dim, "mode": "prefill", "suggestion": choice, "score": score,
                         "wrong_probe": bool(wrong), "hint": None})
    return pd.DataFrame(rows, columns=["item_id", "dimension", "mode", "suggestion", "score", "wrong_probe", "hint"])


def _items(df: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in ("item_id", "dimension", "prompt", "response_a", "response_b", "model_a", "model_b",
                        "sampling_bucket", "sampling_reason") if c in df.columns]
    return df.drop_duplicates(["item_id", "dimension"])[keep]


def labelstudio_tasks(df: pd.DataFrame, sugg: pd.DataFrame, model_version: str) -> list[dict[str, Any]]:
    """Label Studio tasks (import format) with ``predictions`` for the prefilled dimensions."""
    by_key = sugg.set_index(["item_id", "dimension"])
    tasks = []
    for rec in _items(df).to_dict(orient="records"):
        s = by_key.loc[(str(rec["item_id"]), str(rec["dimension"]))]
        data = {k: v for k, v in rec.items() if isinstance(v, str)}
        task: dict[str, Any] = {"data": data}
        if s["mode"] == "prefill":
            data["suggestion"] = s["suggestion"]
            task["predictions"] = [{
                "model_version": model_version,
                "score": round(float(s["score"]), 4),
                "result": [{
                    "from_name": str(rec["dimension"]),
                    "to_name": "prompt",
                    "type": "choices",
                    "value": {"choices": [LS_CHOICE[s["suggestion"]]]},
                }],
            }]
        elif s["mode"] == "hint":
            data["critic_hint"] = s["hint"]
        tasks.append(task)
    return tasks


def argilla_records(df: pd.DataFrame, sugg: pd.DataFrame, agent: str) -> list[dict[str, Any]]:
    """Argilla v2 records with ``suggestions`` on the dimension's label question (values ``a``/``b``)."""
    by_key = sugg.set_index(["item_id", "dimension"])
    records = []
    for rec in _items(df).to_dict(orient="records"):
        s = by_key.loc[(str(rec["item_id"]), str(rec["dimension"]))]
        record: dict[str, Any] = {
            "id": str(rec["item_id"]),
            "fields": {"prompt": rec["prompt"], "response_a": rec["response_a"], "response_b": rec["response_b"]},
            "metadata": {"dimension": str(rec["dimension"])},
            "suggestions": [],
            "responses": {},
        }
        if s["mode"] == "prefill":
            record["suggestions"].append({"question_name": str(rec["dimension"]), "value": s["suggestion"],
                                          "score": round(float(s["score"]), 4), "agent": agent})
        elif s["mode"] == "hint":
            record["metadata"]["critic_hint"] = s["hint"]
        records.append(record)
    return records


def agent_name(identity: dict[str, Any]) -> str:
    """A short, stable name of a critic for ``model_version`` / ``agent``."""
    if identity.get("kind") == "run":
        return f"alignment-ci-reward-{str(identity.get('run_key', ''))[:12]}"
    return f"{identity.get('model')}@{str(identity.get('revision', ''))[:12]}"


def queue_items(df: pd.DataFrame, sugg: pd.DataFrame, model_version: str) -> list[dict[str, Any]]:
    """Items for the rater queue (``monitor.queue.enqueue``) carrying the critic's suggestion, which the
    bridge serves with ``GET /v1/tasks?suggestions=true``; gold items keep their gold answer."""
    by_key = sugg.set_index(["item_id", "dimension"])
    gold = {}
    if "gold_choice" in df.columns:
        gold = {(str(i), str(d)): g for i, d, g in zip(df["item_id"], df["dimension"], df["gold_choice"]) if isinstance(g, str)}
    items = []
    for rec in _items(df).to_dict(orient="records"):
        key = (str(rec["item_id"]), str(rec["dimension"]))
        s = by_key.loc[key]
        item: dict[str, Any] = {
            "item_id": key[0], "dimension": key[1], "task_type": "pairwise", "prompt": rec["prompt"],
            "response_a": rec["response_a"], "response_b": rec["response_b"], "reason": "prefilled by a critic",
        }
        if key in gold:
            item.update(is_gold=True, gold_answer=gold[key])
        if s["mode"] == "prefill":
            item["suggestion"] = {"answer": s["suggestion"], "score": round(float(s["score"]), 4), "model_version": model_version}
        elif s["mode"] == "hint":
            item["suggestion"] = {"hint": s["hint"]}
        items.append(item)
    return items
