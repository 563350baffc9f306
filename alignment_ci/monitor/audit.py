"""Label audit: merged labels sent back for blind re-review, and audit error rates.

:func:`merged_labels` reads every ingested batch (manifests -> artifact store) with its
vendor. :func:`audit_candidates` turns judgments into candidates for the planner's
``audit`` bucket: the re-review item shows the prompt and responses only (blind), its
``item_id`` is ``audit-<hash>`` of (batch, item, rater, dimension), and ``audit_of``
keeps the original judgment server-side in the plan.

When the re-review comes back (a batch whose ``item_id`` are those audit ids),
:func:`audit_errors` compares each reviewed judgment with the original and names the
error modes:

* pairwise: ``preference_reversed`` (a <-> b), ``tie_mismatch``, ``unjustified_skip``;
* likert: ``rating_off`` (further apart than the tolerance);
* ranking: ``top_choice_wrong``, ``order_wrong``;
* flags: ``missed_safety_flag``, ``spurious_safety_flag``, ``missed_hallucination_flag``,
  ``spurious_hallucination_flag``.

A review that skips is not counted. :func:`audit_error_rates` reports, per vendor and
per mode, the share of audited labels in error.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any


from ..config import Config
from ..data.manifest import iter_manifests
from ..errors import InputError
from ..store import open_store
from .. import lazy

pd = lazy.module("pandas")

JUDGMENT_COLUMNS = ("choice", "rating", "ranking", "safety_flag", "hallucination_flag")
FLAGS = ("safety_flag", "hallucination_flag")


def merged_labels(config: Config, store: Any = None) -> pd.DataFrame:
    """All ingested label rows, with ``vendor`` and ``batch_id`` (empty frame when none)."""

    manifests = [data for _, data in iter_manifests(config) if isinstance(data.get("sha256"), str)]
    if not manifests:
        return pd.DataFrame()
    store = store if store is not None else open_store(config)
    frames = []
    with tempfile.TemporaryDirectory(prefix="alignment-ci-audit-") as tmp:
        for m in manifests:
            local = Path(tmp) / f"{m['sha256']}.parquet"
            store.get_blob_to_path(m["sha256"], local)
            frame = pd.read_parquet(local)
            frame["vendor"] = m.get("vendor")
            frame["batch_id"] = m.get("batch_id")
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return value


def _responses(row: Mapping[str, Any]) -> list[str]:
    if row.get("task_type") == "pairwise":
        return [row["response_a"], row["response_b"]]
    if row.get("task_type") == "likert":
        return [row["response"]]
    return list(_plain(row["responses"]))


def audit_id(batch_id: str, item_id: str, rater_id: str, dimension: str) -> str:
    digest = hashlib.sha256("\x1f".join([batch_id, item_id, rater_id, dimension]).encode()).hexdigest()[:16]
    return f"audit-{digest}"


def audit_candidates(labels: pd.DataFrame, n: int | None = None, seed: int = 0,
                     ranking: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """Re-review candidates from merged judgments (gold items excluded): a seeded random
    sample of ``n`` (all when None), or, with a critic ``ranking``
    (:func:`alignment_ci.quality.critic.triage`: ``item_id``, ``dimension``, ``rank``), the
    judgments of the most suspicious items first."""
    if labels.empty:
        return []
    rows = labels
    if "is_gold" in rows.columns:
        rows = rows[~rows["is_gold"].fillna(False).astype(bool)]
    if ranking is not None and len(ranking):
        rank = {(str(i), str(d)): int(r) for i, d, r in zip(ranking["item_id"], ranking["dimension"], ranking["rank"])}
        keys = [rank.get((str(i), str(d)), len(rank) + 1) for i, d in zip(rows["item_id"], rows["dimension"])]
        rows = rows.assign(_rank=keys).sort_values(["_rank", "item_id", "rater_id"], kind="mergesort").drop(columns="_rank")
        records = rows.to_dict("records")[:n] if n is not None else rows.to_dict("records")
    else:
        records = rows.to_dict("records")
        rng = random.Random(seed)
        if n is not None and n < len(records):
            records = rng.sample(records, n)
    out = []
    for r in records:
        judgment = {k: _plain(r.get(k)) for k in JUDGMENT_COLUMNS if k in r and _plain(r.get(k)) is not None}
        out.append({
            "item_id": audit_id(str(r["batch_id"]), str(r["item_id"]), str(r["rater_id"]), str(r["dimension"])),
            "prompt": r["prompt"],
            "responses": _responses(r),
            "task_type": r["task_type"],
            "dimension": r["dimension"],
            "cohort": None,
            "reason": f"audit: blind re-review of a merged label ({r.get('vendor')}/{r['batch_id']})"
                      + (", ranked by critic disagreement" if ranking is not None else ""),
            "audit_of": {"vendor": r.get("vendor"), "batch_id": r["batch_id"], "item_id": r["item_id"],
                         "rater_id": r["rater_id"], "dimension": r["dimension"], "task_type": r["task_type"], **judgment},
        })
    return out


def _modes(task_type: str, original: Mapping[str, Any], review: Mapping[str, Any], tolerance: int) -> list[str] | None:
    """Error modes of ``original`` judged against ``review``; None when the review skipped."""
    modes: list[str] = []
    if task_type == "pairwise":
        o, r = original.get("choice"), review.get("choice")
        if r in (None, "skip"):
            return None
        if o == "skip":
            modes.append("unjustified_skip")
        elif {o, r} == {"a", "b"}:
            modes.append("preference_reversed")
        elif o != r:
            modes.append("tie_mismatch")
    elif task_type == "likert":
        o, r = original.get("rating"), review.get("rating")
        if r is None:
            return None
        if o is None or abs(int(o) - int(r)) > tolerance:
            modes.append("rating_off")
    elif task_type == "ranking":
        o, r = list(original.get("ranking") or []), list(review.get("ranking") or [])
        if not r:
            return None
        if not o or o[0] != r[0]:
            modes.append("top_choice_wrong")
        elif o != r:
            modes.append("order_wrong")
    for flag in FLAGS:
        o, r = bool(original.get(flag) or False), bool(review.get(flag) or False)
        if r and not o:
            modes.append(f"missed_{flag}")
        elif o and not r:
            modes.append(f"spurious_{flag}")
    return modes


def audit_errors(plan_items: Iterable[Mapping[str, Any]], reviews: pd.DataFrame, likert_tolerance: int = 0) -> list[dict[str, Any]]:
    """One entry per audited label with a review: ``{audit_id, vendor, batch_id, rater_id,
    dimension, error, modes}``. Several reviews of one audit item: the most common answer."""
    audits = {it["item_id"]: it["audit_of"] for it in plan_items if isinstance(it.get("audit_of"), Mapping)}
    if not audits:
        raise InputError("the plan has no audit items (items with `audit_of`): give the plan `queue plan` wrote")
    missing = [c for c in ("item_id",) if c not in reviews.columns]
    if missing:
        raise InputError("the review batch has no item_id column")
    out = []
    for audit_item, group in reviews[reviews["item_id"].isin(audits)].groupby("item_id", sort=True):
        original = audits[audit_item]
        answers = [tuple((k, repr(_plain(r.get(k)))) for k in JUDGMENT_COLUMNS) for r in group.to_dict("records")]
        top = Counter(answers).most_common(1)[0][0]
        review = next(r for r, a in zip(group.to_dict("records"), answers) if a == top)
        modes = _modes(original["task_type"], original, {k: _plain(review.get(k)) for k in JUDGMENT_COLUMNS}, likert_tolerance)
        if modes is None:
            continue
        out.append({"audit_id": audit_item, "vendor": original.get("vendor"), "batch_id": original.get("batch_id"),
                    "rater_id": original.get("rater_id"), "dimension": original.get("dimension"),
                    "error": bool(modes), "modes": modes})
    return out


def audit_error_rates(errors: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"audited", "errors", "error_rate", "modes": {mode: rate}, "vendors": {vendor: same}}``."""
    def summary(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        n = len(entries)
        bad = sum(1 for e in entries if e["error"])
        modes = Counter(m for e in entries for m in e["modes"])
        return {"audited": n, "errors": bad, "error_rate": round(bad / n, 4) if n else None,
                "modes": {m: round(c / n, 4) for m, c in sorted(modes.items())}}

    vendors: dict[str, list[Mapping[str, Any]]] = {}
    for e in errors:
        vendors.setdefault(str(e.get("vendor")), []).append(e)
    return {**summary(errors), "vendors": {v: summary(es) for v, es in sorted(vendors.items())}}
