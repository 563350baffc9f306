"""The sampling planner: spend a labeling budget across buckets, with reasons; active learning.

Buckets and their default shares come from ``sampling.budget`` (40% production
failures, 30% uncertain, 20% random drift samples, 10% edge cases); an ``audit`` bucket
(merged labels sent back for re-review) takes ``planner.audit_share`` unless the budget
names it. :func:`allocate` splits the budget by largest remainders (Hamilton's method)
and hands a bucket's unused seats to the others in proportion to their shares.

Within a bucket, candidates are ranked: production failures expedited first, then by
priority; uncertain ones by expected model change (below); random and audit ones by a
seeded shuffle; edge cases and any other bucket by ``priority`` then pool order. Then
coverage: every cohort and every language present in the pools gets at least
``planner.min_per_group`` items, swapping out the lowest-ranked item of the most
flexible bucket (random, edge, audit, uncertain, then production failures; never an
expedited one) whose removal uncovers nothing. Every selected item records ``bucket``
and ``reason``.

Active learning ("uncertain"): a light Bradley–Terry model on sentence embeddings,
``P(a > b | x) = sigmoid(w . (phi(x, a) - phi(x, b)))`` with ``phi(x, r) = [e(r), e(x) * e(r)]``,
fitted by L2-regularised logistic regression on the labeled pairs. A candidate's score is
its expected gradient length (Settles, Craven & Ray, NIPS 2008) under the current model,
``E_y ||(y - p) d|| = 2 p (1 - p) ||d||``: the pairs whose label would move the model most.
With the current reward model's margins in the pool (``rm_margin`` = r(a) - r(b)), the
score is ``2 p (1 - p)`` with ``p = sigmoid(margin)``. Picks are greedy with a diversity
rule: a candidate whose difference vector is more similar than ``planner.diversity``
(cosine) to an earlier pick waits until the dissimilar ones are used up.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from .embeddings import Embedder
from .settings import PlannerSettings

DEFAULT_ORDER = ("production_failure", "uncertain", "random", "edge", "audit")
SWAP_ORDER = ("random", "edge", "audit", "uncertain", "production_failure")
COVERAGE_KEYS = ("cohort", "language")


def bucket_shares(budget: Mapping[str, float], audit_share: float) -> dict[str, float]:
    """The budget shares with the audit bucket added (scaling the others) when it is absent."""
    shares = {k: float(v) for k, v in budget.items()}
    if "audit" not in shares and audit_share > 0:
        shares = {k: v * (1 - audit_share) for k, v in shares.items()}
        shares["audit"] = audit_share
    total = sum(shares.values())
    if total <= 0:
        raise InputError("sampling.budget shares sum to 0: give at least one bucket a positive share")
    return {k: v / total for k, v in shares.items()}


def allocate(budget: int, shares: Mapping[str, float], available: Mapping[str, int]) -> dict[str, int]:
    """Seats per bucket: largest remainders of ``budget x share``, capped by what a bucket
    has; seats a bucket cannot use go to the others in proportion to their shares."""
    if budget < 0:
        raise InputError(f"budget must be >= 0, got {budget}")
    seats = {k: 0 for k in shares}
    remaining = budget
    open_buckets = [k for k in shares if available.get(k, 0) > 0 and shares[k] > 0]
    while remaining > 0 and open_buckets:
        total = sum(shares[k] for k in open_buckets)
        quotas = {k: remaining * shares[k] / total for k in open_buckets}
        grant = {k: math.floor(q) for k, q in quotas.items()}
        leftover = remaining - sum(grant.values())
        for k in sorted(open_buckets, key=lambda k: (-(quotas[k] - grant[k]), -shares[k], k))[:leftover]:
            grant[k] += 1
        spent = 0
        for k in open_buckets:
            take = min(grant[k], available.get(k, 0) - seats[k])
            seats[k] += take
            spent += take
        remaining -= spent
        open_buckets = [k for k in open_buckets if seats[k] < available.get(k, 0)]
        if spent == 0:
            break
    return seats


# --------------------------------------------------------------------------- active learning


def pair_features(prompt_vecs: np.ndarray, a_vecs: np.ndarray, b_vecs: np.ndarray) -> np.ndarray:
    """``phi(x, a) - phi(x, b)`` with ``phi(x, r) = [e(r), e(x) * e(r)]``."""
    diff = a_vecs - b_vecs
    return np.hstack([diff, prompt_vecs * diff]).astype(np.float64)


def embed_pairs(embedder: Embedder, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> np.ndarray:
    """Pair features of texts, embedding each distinct text once."""
    texts = sorted(set(prompts) | set(a) | set(b))
    index = {t: i for i, t in enumerate(texts)}
    vecs = embedder.encode(texts)
    take = lambda seq: vecs[[index[t] for t in seq]]  # noqa: E731
    return pair_features(take(prompts), take(a), take(b))


class EmbeddingBT:
    """Bradley–Terry preferences on embedding differences (logistic regression without
    intercept, so swapping a and b flips the probability). Fitted: ``coef_``."""

    def __init__(self, C: float = 1.0) -> None:
        self.C = C
        self.coef_: np.ndarray | None = None

    def fit(self, diffs: np.ndarray, a_wins: np.ndarray) -> "EmbeddingBT":
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(a_wins, dtype=int)
        # Each pair also enters swapped: the model stays antisymmetric and both classes exist.
        X = np.vstack([diffs, -diffs])
        Y = np.concatenate([y, 1 - y])
        model = LogisticRegression(C=self.C, fit_intercept=False, max_iter=1000)
        model.fit(X, Y)
        self.coef_ = model.coef_[0]
        return self

    def predict_proba(self, diffs: np.ndarray) -> np.ndarray:
        """P(a preferred to b)."""
        if self.coef_ is None:
            return np.full(len(diffs), 0.5)
        return 1.0 / (1.0 + np.exp(-(diffs @ self.coef_)))


def expected_gradient_length(p: np.ndarray, diffs: np.ndarray | None = None) -> np.ndarray:
    """``2 p (1 - p) ||d||`` (or ``2 p (1 - p)`` without features)."""
    base = 2 * p * (1 - p)
    return base if diffs is None else base * np.linalg.norm(diffs, axis=1)


def diverse_order(scores: np.ndarray, vectors: np.ndarray, max_similarity: float, k: int | None = None) -> list[int]:
    """Indices by score, where the first ``k`` picks skip any candidate within
    ``max_similarity`` cosine of an earlier pick; the skipped ones follow, by score."""
    order = [int(i) for i in np.argsort(-scores, kind="stable")]
    k = len(order) if k is None else min(k, len(order))
    norms = np.linalg.norm(vectors, axis=1)
    unit = vectors / np.where(norms > 0, norms, 1.0)[:, None]
    picked: list[int] = []
    for i in order:
        if len(picked) >= k:
            break
        if picked and float(np.max(np.abs(unit[picked] @ unit[i]))) > max_similarity:
            continue
        picked.append(i)
    taken = set(picked)
    return picked + [i for i in order if i not in taken]


def _pair_texts(c: Mapping[str, Any], where: str) -> tuple[str, str, str]:
    prompt = c.get("prompt")
    if c.get("responses") is not None and len(c["responses"]) == 2:
        a, b = c["responses"]
    else:
        a, b = c.get("response_a"), c.get("response_b")
    if not all(isinstance(t, str) for t in (prompt, a, b)):
        raise InputError(f"{where}: an uncertain-pool candidate needs prompt and two responses (response_a/response_b)")
    return prompt, a, b


def labeled_pairs_arrays(labeled: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str], list[str]]:
    """TRL pairs (``prompt``, ``chosen``, ``rejected``) as prompt / winner / loser lists."""
    prompts, chosen, rejected = [], [], []
    for i, row in enumerate(labeled):
        if not all(isinstance(row.get(k), str) for k in ("prompt", "chosen", "rejected")):
            raise InputError(f"labeled pair {i + 1}: needs prompt, chosen and rejected texts (TRL's preference format)")
        prompts.append(row["prompt"])
        chosen.append(row["chosen"])
        rejected.append(row["rejected"])
    return prompts, chosen, rejected


def rank_uncertain(
    pool: Sequence[Mapping[str, Any]],
    *,
    labeled: Sequence[Mapping[str, Any]] = (),
    embedder: Embedder | None = None,
    settings: PlannerSettings | None = None,
    k: int | None = None,
) -> list[dict[str, Any]]:
    """The pool ordered by expected model change, each with ``uncertainty`` and ``reason``."""
    settings = settings or PlannerSettings()
    if not pool:
        return []
    use_margin = settings.uncertainty == "rm-margin" or (
        settings.uncertainty == "auto" and all(c.get("rm_margin") is not None for c in pool)
    )
    if use_margin:
        margins = np.array([float(c["rm_margin"]) if c.get("rm_margin") is not None else np.nan for c in pool])
        if np.isnan(margins).any():
            raise InputError("planner.uncertainty is rm-margin but some pool items lack rm_margin")
        p = 1 / (1 + np.exp(-margins))
        scores = expected_gradient_length(p)
        order = list(np.argsort(-scores, kind="stable"))
        reasons = [f"uncertain: reward-model margin {m:+.3f} (p={pi:.3f})" for m, pi in zip(margins, p)]
    else:
        if embedder is None:
            raise InputError("ranking the uncertain pool needs an embedder (or rm_margin on every item)")
        texts = [_pair_texts(c, f"pool item {i + 1}") for i, c in enumerate(pool)]
        diffs = embed_pairs(embedder, [t[0] for t in texts], [t[1] for t in texts], [t[2] for t in texts])
        model = EmbeddingBT(settings.bt_regularization)
        if labeled:
            lp, lw, ll = labeled_pairs_arrays(labeled)
            model.fit(embed_pairs(embedder, lp, lw, ll), np.ones(len(lp), dtype=int))
        p = model.predict_proba(diffs)
        scores = expected_gradient_length(p, diffs)
        order = diverse_order(scores, diffs, settings.diversity, k)
        basis = f"embedding Bradley-Terry on {len(labeled)} labeled pairs" if labeled else "cold start, no labeled pairs"
        reasons = [f"uncertain: p(a>b)={pi:.2f}, expected gradient length {s:.3f} ({basis})" for pi, s in zip(p, scores)]
    out = []
    for i in order:
        item = dict(pool[i])
        item["uncertainty"] = round(float(scores[i]), 6)
        item["reason"] = reasons[i]
        out.append(item)
    return out


# --------------------------------------------------------------------------- the plan


@dataclass
class Plan:
    budget: int
    shares: dict[str, float]
    allocation: dict[str, int]
    items: list[dict[str, Any]] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        c = Counter(it["bucket"] for it in self.items)
        return {b: int(c.get(b, 0)) for b in self.allocation}

    def to_dict(self, with_items: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "budget": self.budget,
            "selected": len(self.items),
            "shares": {k: round(v, 6) for k, v in self.shares.items()},
            "allocation": self.allocation,
            "counts": self.counts(),
            "coverage": self.coverage,
        }
        if with_items:
            data["items"] = self.items
        return data


def _rank_bucket(bucket: str, pool: Sequence[Mapping[str, Any]], seed: int) -> list[dict[str, Any]]:
    items = [dict(c) for c in pool]
    if bucket == "production_failure":
        return sorted(items, key=lambda c: (not bool(c.get("expedited")), -float(c.get("priority") or 0.0)))
    if bucket == "uncertain":
        return items  # already ranked by rank_uncertain
    if bucket in ("random", "audit"):
        random.Random(f"{seed}:{bucket}").shuffle(items)
        return items
    return sorted(items, key=lambda c: -float(c.get("priority") or 0.0))


def _default_reason(bucket: str, c: Mapping[str, Any], seed: int) -> str:
    if bucket == "random":
        return f"random drift sample (seed {seed})"
    if bucket == "edge":
        return "edge case"
    if bucket == "audit":
        src = c.get("audit_of") or {}
        return f"audit: re-review of a merged label ({src.get('vendor', '?')}/{src.get('batch_id', '?')})"
    return bucket.replace("_", " ")


def plan_batch(
    budget: int,
    pools: Mapping[str, Sequence[Mapping[str, Any]]],
    shares: Mapping[str, float],
    settings: PlannerSettings | None = None,
) -> Plan:
    """Select up to ``budget`` items from ``pools`` (bucket -> candidates) by ``shares``.

    Candidates are dicts with at least ``item_id``; ``cohort``/``language`` feed coverage.
    The ``uncertain`` pool must already be ordered (:func:`rank_uncertain`). An item id
    selected in one bucket is not selected again in another.
    """
    settings = settings or PlannerSettings()
    unknown = sorted(set(pools) - set(shares))
    if unknown:
        raise InputError(f"pools for buckets without a budget share: {', '.join(unknown)} (add them to sampling.budget)")
    ranked: dict[str, list[dict[str, Any]]] = {}
    seen: set[str] = set()
    order = [b for b in DEFAULT_ORDER if b in shares] + sorted(b for b in shares if b not in DEFAULT_ORDER)
    for bucket in order:
        ranked[bucket] = []
        for c in _rank_bucket(bucket, pools.get(bucket, ()), settings.seed):
            item_id = c.get("item_id")
            if not isinstance(item_id, str) or not item_id:
                raise InputError(f"a {bucket} candidate has no item_id")
            if item_id in seen:
                continue
            seen.add(item_id)
            c["bucket"] = bucket
            c["reason"] = c.get("reason") or _default_reason(bucket, c, settings.seed)
            ranked[bucket].append(c)
    allocation = allocate(budget, shares, {b: len(v) for b, v in ranked.items()})
    chosen = {b: ranked[b][: allocation[b]] for b in order}
    rest = {b: ranked[b][allocation[b]:] for b in order}

    missing_before = {}
    for key in COVERAGE_KEYS:
        present = sorted({str(c[key]) for b in order for c in ranked[b] if c.get(key)})
        for value in present:
            need = settings.min_per_group
            have = sum(1 for b in order for c in chosen[b] if str(c.get(key)) == value)
            while have < need:
                if not _swap_in(chosen, rest, key, value, settings.min_per_group):
                    missing_before.setdefault(key, []).append(value)
                    break
                have += 1
    items = [c for b in order for c in chosen[b]]
    coverage = {
        key: dict(sorted(Counter(str(c[key]) for c in items if c.get(key)).items())) for key in COVERAGE_KEYS
    }
    coverage["uncovered"] = missing_before
    return Plan(budget=budget, shares=dict(shares), allocation=allocation, items=items, coverage=coverage)


def _swap_in(chosen: dict[str, list[dict]], rest: dict[str, list[dict]], key: str, value: str, min_per_group: int) -> bool:
    """Swap the best unselected item with ``key == value`` for a removable selected one."""
    counts = {k: Counter(str(c.get(k)) for b in chosen for c in chosen[b] if c.get(k)) for k in COVERAGE_KEYS}
    buckets = [b for b in SWAP_ORDER if b in chosen] + [b for b in chosen if b not in SWAP_ORDER]
    for bucket in buckets:
        candidates = [c for c in rest[bucket] if str(c.get(key)) == value]
        if not candidates:
            continue
        incoming = candidates[0]
        for victim in reversed(chosen[bucket]):
            if victim.get("expedited"):
                continue
            if any(victim.get(k) and counts[k][str(victim[k])] <= min_per_group and str(incoming.get(k)) != str(victim[k])
                   for k in COVERAGE_KEYS):
                continue
            chosen[bucket].remove(victim)
            rest[bucket].insert(0, victim)
            rest[bucket].remove(incoming)
            incoming["reason"] = f"{incoming['reason']} (coverage: {key} {value})"
            chosen[bucket].append(incoming)
            return True
    return False


def queue_items(plan: Plan) -> list[dict[str, Any]]:
    """The plan's items in the form :func:`alignment_ci.monitor.queue.enqueue` takes."""
    keep = ("item_id", "prompt", "responses", "response_a", "response_b", "response", "dimension", "task_type", "bucket",
            "reason", "priority", "severity", "expedited", "sensitive_category", "cohort", "language")
    return [{k: it[k] for k in keep if it.get(k) is not None} for it in plan.items]
