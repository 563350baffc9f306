"""Sampling planner: allocation, ranking, coverage, reasons; active learning; the audit bucket."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignment_ci.errors import InputError
from alignment_ci.monitor.audit import audit_candidates, audit_error_rates, audit_errors, audit_id
from alignment_ci.monitor.embeddings import load_embedder
from alignment_ci.monitor.planner import (
    EmbeddingBT,
    allocate,
    bucket_shares,
    diverse_order,
    expected_gradient_length,
    plan_batch,
    queue_items,
    rank_uncertain,
)
from alignment_ci.monitor.settings import PlannerSettings

DEFAULT_BUDGET = {"production_failure": 0.4, "uncertain": 0.3, "random": 0.2, "edge": 0.1}


def test_bucket_shares_adds_audit_and_keeps_proportions():
    shares = bucket_shares(DEFAULT_BUDGET, 0.05)
    assert shares == pytest.approx({"production_failure": 0.38, "uncertain": 0.285, "random": 0.19, "edge": 0.095, "audit": 0.05})
    assert bucket_shares({**DEFAULT_BUDGET}, 0.0) == pytest.approx(DEFAULT_BUDGET)
    assert bucket_shares({"production_failure": 0.5, "audit": 0.5}, 0.05) == {"production_failure": 0.5, "audit": 0.5}


def test_allocate_largest_remainder_and_redistribution():
    assert allocate(100, DEFAULT_BUDGET, {b: 1000 for b in DEFAULT_BUDGET}) == {
        "production_failure": 40, "uncertain": 30, "random": 20, "edge": 10}
    assert allocate(7, DEFAULT_BUDGET, {b: 1000 for b in DEFAULT_BUDGET}) == {
        "production_failure": 3, "uncertain": 2, "random": 1, "edge": 1}
    # Only 5 production failures: their 35 unused seats go 3:2:1 to the others
    # (17.5, 11.67, 5.83 -> 17, 11, 5 and the two largest remainders, edge and random, get one more).
    got = allocate(100, DEFAULT_BUDGET, {"production_failure": 5, "uncertain": 1000, "random": 1000, "edge": 1000})
    assert got == {"production_failure": 5, "uncertain": 47, "random": 32, "edge": 16}
    assert sum(allocate(100, DEFAULT_BUDGET, {"production_failure": 3, "uncertain": 4, "random": 0, "edge": 2}).values()) == 9


def _failures(n, cohort="c1", language="en"):
    return [{"item_id": f"f{i}", "prompt": f"fail {i}", "responses": [f"r{i}"], "priority": float(i), "expedited": i == 0,
             "reason": f"thumbs_down x{i}", "cohort": cohort, "language": language} for i in range(n)]


def _random(n, cohort="c1", language="en", prefix="t"):
    return [{"item_id": f"{prefix}{i}", "prompt": f"traffic {i}", "responses": [f"x{i}"], "cohort": cohort, "language": language}
            for i in range(n)]


def test_plan_records_bucket_and_reason_for_every_item_and_expedites():
    pools = {"production_failure": _failures(10), "random": _random(30), "edge": [
        {"item_id": "e1", "prompt": "very long", "responses": ["r"], "reason": "prompt over 8k tokens", "priority": 2.0},
        {"item_id": "e2", "prompt": "emoji only", "responses": ["r"], "priority": 1.0}]}
    shares = {"production_failure": 0.5, "random": 0.3, "edge": 0.2}
    plan = plan_batch(10, pools, shares, PlannerSettings(seed=3))
    assert plan.counts() == {"production_failure": 5, "random": 3, "edge": 2}
    failures = [it for it in plan.items if it["bucket"] == "production_failure"]
    # The expedited item first even though its priority is the lowest, then by priority.
    assert [it["item_id"] for it in failures] == ["f0", "f9", "f8", "f7", "f6"]
    assert [it["reason"] for it in plan.items if it["bucket"] == "edge"] == ["prompt over 8k tokens", "edge case"]
    assert all(it["reason"] == "random drift sample (seed 3)" for it in plan.items if it["bucket"] == "random")
    again = plan_batch(10, pools, shares, PlannerSettings(seed=3))
    assert [it["item_id"] for it in again.items] == [it["item_id"] for it in plan.items]
    rows = queue_items(plan)
    assert set(rows[0]) == {"item_id", "prompt", "responses", "bucket", "reason", "priority", "expedited", "cohort", "language"}


def test_plan_keeps_cohort_and_language_coverage():
    minority = [
        {"item_id": "de0", "prompt": "de", "responses": ["r"], "priority": -1.0, "cohort": "c2", "language": "de"},
        {"item_id": "c3-0", "prompt": "c3", "responses": ["r"], "priority": -2.0, "cohort": "c3", "language": "en"},
    ]
    pools = {"production_failure": _failures(20) + minority, "random": _random(20)}
    plan = plan_batch(10, pools, {"production_failure": 0.5, "random": 0.5}, PlannerSettings(seed=1))
    # By priority alone neither minority item would make it; coverage swaps them in for the
    # lowest-ranked production failures (f16, f17), never for the expedited f0.
    assert plan.coverage["cohort"] == {"c1": 8, "c2": 1, "c3": 1}
    assert plan.coverage["language"] == {"de": 1, "en": 9}
    assert plan.coverage["uncovered"] == {}
    failures = [it["item_id"] for it in plan.items if it["bucket"] == "production_failure"]
    assert failures == ["f0", "f19", "f18", "de0", "c3-0"]
    assert [it["reason"] for it in plan.items if it["item_id"] in ("de0", "c3-0")] == [
        "production failure (coverage: cohort c2)", "production failure (coverage: cohort c3)"]
    assert plan.counts() == {"production_failure": 5, "random": 5}
    small = plan_batch(1, {"random": _random(3) + _random(1, cohort="c9", prefix="z")}, {"random": 1.0}, PlannerSettings(seed=1))
    assert small.coverage["uncovered"] == {"cohort": ["c1"]} or small.coverage["uncovered"] == {"cohort": ["c9"]}


def test_plan_dedupes_items_across_buckets_and_rejects_unknown_buckets():
    pools = {"production_failure": _failures(2), "random": _random(2, prefix="f")}  # ids f0, f1 in both
    plan = plan_batch(4, pools, {"production_failure": 0.5, "random": 0.5})
    assert [it["item_id"] for it in plan.items] == ["f0", "f1"]
    with pytest.raises(InputError, match="pools for buckets without a budget share: mystery"):
        plan_batch(4, {"mystery": []}, {"random": 1.0})


def test_embedding_bt_matches_sklearn_logistic_regression_and_is_antisymmetric():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    d = rng.normal(size=(200, 6))
    w = np.array([1.5, -2.0, 0.5, 0.0, 1.0, 0.0])
    y = (rng.random(200) < 1 / (1 + np.exp(-d @ w))).astype(int)
    model = EmbeddingBT(C=1.0).fit(d, y)
    ref = LogisticRegression(C=1.0, fit_intercept=False, max_iter=1000).fit(np.vstack([d, -d]), np.concatenate([y, 1 - y]))
    np.testing.assert_allclose(model.coef_, ref.coef_[0], rtol=1e-6)
    np.testing.assert_allclose(model.predict_proba(d) + model.predict_proba(-d), 1.0)
    assert np.corrcoef(model.coef_, w)[0, 1] > 0.9


def test_expected_gradient_length_and_diverse_order():
    p = np.array([0.5, 0.9, 0.5, 0.99])
    d = np.array([[2.0, 0.0], [1.0, 0.0], [1.0, 0.0], [10.0, 0.0]])
    np.testing.assert_allclose(expected_gradient_length(p, d), [1.0, 0.18, 0.5, 0.198])
    vecs = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.7, 0.7]])
    scores = np.array([4.0, 3.0, 2.0, 1.0])
    assert diverse_order(scores, vecs, 0.9, k=3) == [0, 2, 3, 1]
    assert diverse_order(scores, vecs, 0.9, k=1) == [0, 1, 2, 3]


def test_rank_uncertain_by_reward_model_margin():
    pool = [{"item_id": f"p{i}", "prompt": "q", "response_a": "a", "response_b": "b", "rm_margin": m}
            for i, m in enumerate([3.0, -0.1, 0.8, 0.02, -2.5])]
    ranked = rank_uncertain(pool)
    assert [r["item_id"] for r in ranked] == ["p3", "p1", "p2", "p4", "p0"]
    assert ranked[0]["reason"] == "uncertain: reward-model margin +0.020 (p=0.505)"


def test_rank_uncertain_with_embedding_bt_prefers_pairs_the_model_cannot_tell_apart():
    embedder = load_embedder()
    polite = ["Sure, happy to help. {}. Thank you for asking!", "Of course! {}. Have a nice day!"]
    curt = ["Ugh, whatever. {}. Go away.", "Not my problem. {}. Stop asking."]
    tasks = ["Open settings and reset it", "Mix flour and water, then bake", "Water the plant when the soil is dry",
             "Patch the tube and pump it up", "Steep the leaves briefly"]
    labeled = [{"prompt": f"How do I do task {i}?", "chosen": polite[i % 2].format(t), "rejected": curt[i % 2].format(t)}
               for i, t in enumerate(tasks)]
    easy = {"item_id": "easy", "prompt": "How do I back up photos?", "response_a": polite[0].format("Copy them to a drive"),
            "response_b": curt[1].format("Copy them to a drive")}
    # Courtesy markers pull opposite ways: the model cannot tell which is better.
    mixed = {"item_id": "mixed", "prompt": "How do I back up photos?",
             "response_a": "Sure, happy to help. Copy them to a drive. Go away.",
             "response_b": "Ugh, whatever. Copy them to a drive. Thank you for asking!"}
    ranked = rank_uncertain([easy, mixed], labeled=labeled, embedder=embedder)
    assert [r["item_id"] for r in ranked] == ["mixed", "easy"]
    assert ranked[0]["uncertainty"] > ranked[1]["uncertainty"]
    assert "embedding Bradley-Terry on 5 labeled pairs" in ranked[0]["reason"]
    p_easy = float(ranked[1]["reason"].split("p(a>b)=")[1][:4])
    p_mixed = float(ranked[0]["reason"].split("p(a>b)=")[1][:4])
    assert p_easy > 0.6 and abs(p_mixed - 0.5) < abs(p_easy - 0.5)
    cold = rank_uncertain([easy, mixed], embedder=embedder)
    assert "cold start" in cold[0]["reason"]
    with pytest.raises(InputError, match="needs an embedder"):
        rank_uncertain([easy])


def _merged():
    rows = [
        {"batch_id": "b1", "vendor": "acme", "item_id": f"i{i}", "rater_id": "r1", "dimension": "helpfulness",
         "task_type": "pairwise", "prompt": f"p{i}", "response_a": "A", "response_b": "B", "choice": c, "is_gold": False}
        for i, c in enumerate(["a", "b", "tie", "a"])
    ] + [
        {"batch_id": "b2", "vendor": "beta", "item_id": "j0", "rater_id": "r9", "dimension": "helpfulness",
         "task_type": "pairwise", "prompt": "q", "response_a": "A", "response_b": "B", "choice": "a", "safety_flag": True, "is_gold": False},
        {"batch_id": "b2", "vendor": "beta", "item_id": "g0", "rater_id": "r9", "dimension": "helpfulness",
         "task_type": "pairwise", "prompt": "gold", "response_a": "A", "response_b": "B", "choice": "a", "is_gold": True},
    ]
    return pd.DataFrame(rows)


def test_audit_candidates_are_blind_and_exclude_gold():
    cands = audit_candidates(_merged())
    assert len(cands) == 5
    first = cands[0]
    assert first["item_id"] == audit_id("b1", "i0", "r1", "helpfulness") and first["responses"] == ["A", "B"]
    assert "choice" not in first and first["audit_of"]["choice"] == "a" and first["audit_of"]["vendor"] == "acme"
    assert len(audit_candidates(_merged(), n=2, seed=0)) == 2
    plan = plan_batch(3, {"audit": cands}, {"audit": 1.0})
    assert all(it["bucket"] == "audit" and it["reason"].startswith("audit: blind re-review") for it in plan.items)


def test_audit_error_rates_per_vendor_and_mode():
    cands = audit_candidates(_merged())
    by_orig = {(c["audit_of"]["batch_id"], c["audit_of"]["item_id"]): c["item_id"] for c in cands}
    reviews = pd.DataFrame([
        {"item_id": by_orig[("b1", "i0")], "choice": "a"},                 # agrees
        {"item_id": by_orig[("b1", "i1")], "choice": "a"},                 # reversed
        {"item_id": by_orig[("b1", "i2")], "choice": "b"},                 # tie mismatch
        {"item_id": by_orig[("b1", "i3")], "choice": "skip"},              # reviewer skipped: not counted
        {"item_id": by_orig[("b2", "j0")], "choice": "a", "safety_flag": False},  # spurious flag
    ])
    rates = audit_error_rates(audit_errors(cands, reviews))
    assert rates["audited"] == 4 and rates["errors"] == 3 and rates["error_rate"] == 0.75
    assert rates["vendors"]["acme"] == {"audited": 3, "errors": 2, "error_rate": 0.6667,
                                        "modes": {"preference_reversed": 0.3333, "tie_mismatch": 0.3333}}
    assert rates["vendors"]["beta"]["modes"] == {"spurious_safety_flag": 1.0}
