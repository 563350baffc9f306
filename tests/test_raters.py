"""Rater reliability: exact statistics on small frames and a seeded simulation with
planted random, adversarial, position-biased and too-fast raters."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from alignment_ci.config import Config, QualitySettings
from alignment_ci.quality.raters import rater_report, reliability_scores
from alignment_ci.textsafety import pseudonymize

EMAIL_RATER = "jane.doe@vendor.example"
PLANTED = {"random": "near-random", "adversarial": "adversarial", "lefty": "extreme position bias", "speedy": "implausible speed"}


def row(item, rater, choice, **extra):
    base = {"batch_id": "b", "item_id": item, "rater_id": rater, "dimension": "helpfulness", "task_type": "pairwise",
            "prompt": "p", "response_a": "x", "response_b": "y", "choice": choice}
    base.update(extra)
    return base


def simulate_pairwise(seed: int = 0, n_items: int = 400, per_item: int = 5) -> pd.DataFrame:
    """Eight honest raters (90% correct), one uniform-random, one adversarial (picks the
    wrong answer 90% of the time), one always-`a` rater, one accurate but implausibly fast
    rater, and a newcomer with five judgments."""
    rng = np.random.default_rng(seed)
    honest = [f"honest-{i}" for i in range(7)] + [EMAIL_RATER]
    raters = honest + list(PLANTED)
    truth = rng.choice(["a", "b"], n_items)
    gold = rng.random(n_items) < 0.2
    rows = []
    for j in range(n_items):
        item = f"item-{j}"
        for rater in rng.choice(raters, per_item, replace=False):
            t, other = truth[j], "b" if truth[j] == "a" else "a"
            if rater == "random":
                choice = rng.choice(["a", "b"])
            elif rater == "adversarial":
                choice = other if rng.random() < 0.9 else t
            elif rater == "lefty":
                choice = "a" if rng.random() < 0.95 else "b"
            else:
                choice = t if rng.random() < 0.9 else rng.choice(["a", "b", "tie"])
            if rater != "speedy" and rng.random() < 0.02:
                choice = "skip"
            seconds = float(rng.uniform(0.5, 2.0)) if rater == "speedy" else float(rng.lognormal(np.log(25), 0.4))
            rows.append(row(item, str(rater), choice, is_gold=bool(gold[j]), gold_choice=t if gold[j] else None,
                            time_spent_s=seconds))
    for j in range(5):
        rows.append(row(f"item-{j}", "newbie", truth[j], is_gold=bool(gold[j]), gold_choice=truth[j] if gold[j] else None,
                        time_spent_s=20.0))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    return simulate_pairwise()


@pytest.fixture(scope="module")
def report(simulated) -> dict:
    return rater_report(simulated, Config())


def test_planted_raters_are_flagged_with_their_reason(report):
    raters = report["raters"]
    assert sorted(report["flagged"]) == sorted(PLANTED)
    for rater, reason in PLANTED.items():
        assert raters[rater]["flagged"] is True and raters[rater]["status"] == "flagged"
        assert any(r.startswith(reason) for r in raters[rater]["reasons"]), raters[rater]["reasons"]


def test_honest_raters_are_not_flagged_and_rank_above_planted(report):
    raters = report["raters"]
    honest = [k for k in raters if k.startswith("honest-")] + [pseudonymize(EMAIL_RATER)]
    assert len(honest) == 8
    for k in honest:
        assert raters[k]["status"] == "ok" and raters[k]["reasons"] == []
        assert raters[k]["reliability"] > 0.6
        assert raters[k]["gold_accuracy"] > 0.75
    worst_honest = min(raters[k]["reliability"] for k in honest)
    for k in ("random", "adversarial", "lefty"):
        assert raters[k]["reliability"] < 0.25 < worst_honest
    assert raters["adversarial"]["reliability"] < 0.1
    assert raters["adversarial"]["consensus_kappa"] < -0.3
    assert abs(raters["random"]["consensus_kappa"]) < 0.2
    assert raters["lefty"]["position_bias"] > 0.9
    assert raters["speedy"]["median_seconds"] < 2.0 and raters["speedy"]["fast_share"] == 1.0


def test_rater_with_few_judgments_is_insufficient_data_not_flagged(report):
    newbie = report["raters"]["newbie"]
    assert (newbie["n"], newbie["status"], newbie["flagged"], newbie["reasons"]) == (5, "insufficient_data", False, [])
    assert report["insufficient_data"] == ["newbie"]


def test_pii_rater_ids_are_pseudonymized_in_the_report(report):
    dumped = json.dumps(report)
    assert EMAIL_RATER not in dumped and "vendor.example" not in dumped
    assert pseudonymize(EMAIL_RATER) in report["raters"]
    assert pseudonymize(EMAIL_RATER).startswith("rater-")


def test_reliability_scores_are_keyed_by_raw_ids_in_unit_interval(simulated, report):
    scores = reliability_scores(simulated, Config())
    assert EMAIL_RATER in scores and len(scores) == 13
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert scores["adversarial"] == report["raters"]["adversarial"]["reliability"]
    assert scores[EMAIL_RATER] == report["raters"][pseudonymize(EMAIL_RATER)]["reliability"]


def test_gold_accuracy_and_wilson_interval_are_exact(simulated, report):
    rows = simulated[(simulated["rater_id"] == "honest-0") & simulated["gold_choice"].notna() & (simulated["choice"] != "skip")]
    correct = int((rows["choice"] == rows["gold_choice"]).sum())
    entry = report["raters"]["honest-0"]
    assert entry["gold_n"] == len(rows)
    assert entry["gold_accuracy"] == correct / len(rows)
    assert entry["gold_ci"] == list(proportion_confint(correct, len(rows), alpha=0.05, method="wilson"))


def test_a_rater_without_gold_items_has_no_gold_interval(simulated):
    no_gold = simulated.copy()
    no_gold.loc[no_gold["rater_id"] == "honest-0", "gold_choice"] = None
    entry = rater_report(no_gold, Config())["raters"]["honest-0"]
    assert entry["gold_ci"] is None and entry["gold_accuracy"] is None


def test_leave_one_out_consensus_splits_ties_and_counts_exactly():
    df = pd.DataFrame([
        row("i1", "r1", "a"), row("i1", "r2", "a"), row("i1", "r3", "b"),
        row("i2", "r1", "b"), row("i2", "r2", "a"), row("i2", "r3", "b"),
    ])
    raters = rater_report(df, Config())["raters"]
    assert raters["r1"]["agreement_with_consensus"] == 0.5
    assert raters["r2"]["agreement_with_consensus"] == 0.25
    assert raters["r3"]["agreement_with_consensus"] == 0.25
    assert all(r["status"] == "insufficient_data" for r in raters.values())


def test_position_bias_skip_rate_and_timing_are_exact():
    choices = ["a"] * 18 + ["b"] * 2 + ["tie"] * 3 + ["skip"] * 2
    df = pd.DataFrame([row(f"i{k}", "solo", c, time_spent_s=float(k + 1)) for k, c in enumerate(choices)])
    entry = rater_report(df, Config())["raters"]["solo"]
    assert entry["n"] == 25
    assert entry["position_bias"] == 18 / 20
    assert entry["skip_rate"] == 2 / 25
    assert entry["median_seconds"] == 13.0
    assert entry["fast_share"] == 2 / 25  # 1 s and 2 s are under the 3 s default
    assert entry["agreement_with_consensus"] is None  # nobody else judged these items
    assert entry["reasons"] == ["extreme position bias: chose `a` in 90% of 20 a/b choices (allowed 20%..80%)"]


def test_thresholds_come_from_config():
    choices = ["a"] * 18 + ["b"] * 2
    df = pd.DataFrame([row(f"i{k}", "solo", c, time_spent_s=30.0) for k, c in enumerate(choices)])
    lenient = Config(quality=QualitySettings(max_position_bias=0.95))
    assert rater_report(df, lenient)["raters"]["solo"]["flagged"] is False
    strict_n = Config(quality=QualitySettings(min_rater_judgments=50))
    assert rater_report(df, strict_n)["raters"]["solo"]["status"] == "insufficient_data"


def test_random_likert_rater_is_flagged_and_low_gold_accuracy_is_reported():
    rng = np.random.default_rng(5)
    n_items = 150
    truth = rng.integers(1, 6, n_items)
    rows = []
    for j in range(n_items):
        for rater in ("l1", "l2", "l3", "l4", "noise"):
            if rater == "noise":
                rating = int(rng.integers(1, 6))
            else:
                rating = int(np.clip(truth[j] + rng.choice([-1, 0, 0, 0, 1]), 1, 5))
            gold = int(truth[j]) if j % 4 == 0 else None
            rows.append({"batch_id": "b", "item_id": f"q{j}", "rater_id": rater, "dimension": "helpfulness",
                         "task_type": "likert", "prompt": "p", "response": "r", "rating": rating, "gold_rating": gold})
    df = pd.DataFrame(rows).astype({"gold_rating": "Int64"})
    report = rater_report(df, Config(), likert_tolerance=1)
    raters = report["raters"]
    assert report["flagged"] == ["noise"]
    reasons = raters["noise"]["reasons"]
    assert any(r.startswith("low gold accuracy") for r in reasons)
    assert any(r.startswith("near-random") for r in reasons)
    assert all(raters[k]["gold_accuracy"] == 1.0 for k in ("l1", "l2", "l3", "l4"))  # within +-1 of gold
    assert raters["noise"]["reliability"] < 0.25 < min(raters[k]["reliability"] for k in ("l1", "l2", "l3", "l4"))


def test_ranking_gold_accuracy_uses_induced_pairs():
    def rank_row(rater, ranking, gold):
        return {"batch_id": "b", "item_id": "i1", "rater_id": rater, "dimension": "helpfulness", "task_type": "ranking",
                "prompt": "p", "responses": ["x", "y", "z"], "ranking": ranking, "gold_ranking": gold}

    df = pd.DataFrame([rank_row("u1", [0, 1, 2], [0, 1, 2]), rank_row("u2", [1, 0, 2], [0, 1, 2])])
    raters = rater_report(df, Config())["raters"]
    assert (raters["u1"]["gold_n"], raters["u1"]["gold_accuracy"]) == (3, 1.0)
    assert (raters["u2"]["gold_n"], raters["u2"]["gold_accuracy"]) == (3, 2 / 3)
    assert raters["u1"]["n"] == 1
