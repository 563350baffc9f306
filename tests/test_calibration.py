"""Likert re-anchoring against gold items, and drift of gold accuracy over time."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportions_ztest

from alignment_ci.config import Config
from alignment_ci.errors import InputError
from alignment_ci.quality.calibration import calibrate_likert, gold_accuracy_drift
from alignment_ci.textsafety import pseudonymize

SHIFT = {"fair": 0, "harsh": -1, "lenient": +1, "ana@vendor.example": 0}


def likert(item, rater, rating, gold=None, **extra):
    base = {"batch_id": "b1", "item_id": item, "rater_id": rater, "dimension": "helpfulness", "task_type": "likert",
            "prompt": "p", "response": "r", "rating": rating, "gold_rating": gold}
    base.update(extra)
    return base


def simulate(seed: int = 0, n_items: int = 200) -> tuple[pd.DataFrame, np.ndarray]:
    """Raters with fixed biases; in batch b2 everyone rates one point higher (cohort drift)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(2, 5, n_items)  # 2..4 so +-1 and +-2 shifts stay on the 1..5 scale
    rows = []
    for j in range(n_items):
        batch = "b1" if j < n_items // 2 else "b2"
        drift = 0 if batch == "b1" else 1
        gold = int(truth[j]) if j % 3 == 0 else None
        for rater, shift in SHIFT.items():
            rating = int(np.clip(truth[j] + shift + drift, 1, 5))
            rows.append(likert(f"q{j}", rater, rating, gold, batch_id=batch))
    return pd.DataFrame(rows).astype({"gold_rating": "Int64"}), truth


def test_rater_offsets_are_the_shrunk_mean_gold_error():
    df, _ = simulate()
    result = calibrate_likert(df, Config(), shrinkage=5.0)
    raters = result.adjustments["helpfulness"]["raters"]
    gold = df[df["gold_rating"].notna()]
    for rater in ("harsh", "lenient", "fair"):
        g = gold[gold["rater_id"] == rater]
        # one cohort: its offset is estimated first, the rater offset from what it leaves
        cohort = result.adjustments["helpfulness"]["cohorts"]["all"]["offset"]
        residual = (g["gold_rating"] - g["rating"]).astype(float) - cohort
        assert raters[rater]["offset"] == pytest.approx(residual.sum() / (len(g) + 5.0), abs=1e-12)
        assert raters[rater]["n_gold"] == len(g)
        assert raters[rater]["slope"] == 1.0
    assert raters["harsh"]["offset"] > 0.8 and raters["lenient"]["offset"] < -0.8
    assert raters["harsh"]["by_rating"]["4"] == raters["harsh"]["offset"]


def test_cohort_and_rater_re_anchoring_recovers_the_true_ratings():
    df, truth = simulate()
    result = calibrate_likert(df, Config(), cohort="batch_id", shrinkage=1.0)
    dim = result.adjustments["helpfulness"]
    assert dim["cohorts"]["b2"]["offset"] < -0.85 and dim["cohorts"]["b1"]["offset"] == 0.0
    out = result.calibrated
    true = truth[out["item_id"].str[1:].astype(int).to_numpy()]
    before = np.abs(out["rating"].to_numpy() - true).mean()
    after = np.abs(out["rating_calibrated"].to_numpy() - true).mean()
    # clipping at 5 (lenient raters in b2) keeps the additive model from being exact
    assert before > 0.6 and after < 0.15
    assert dim["mean_abs_error_after"] < 0.15 and dim["mean_abs_error_before"] > 0.6
    # adjustments are reported per row, and the calibrated rating stays on the 1..5 scale
    assert np.allclose(out["rating"] + out["cohort_adjustment"] + out["rater_adjustment"], out["rating_calibrated"])
    assert out["rating_calibrated"].between(1, 5).all()


def test_linear_method_recovers_a_compressed_scale_exactly_without_shrinkage():
    # gold = 2 * rating - 3: the rater uses 2..4 for what gold calls 1..5
    rows = [likert(f"q{k}", "narrow", r, 2 * r - 3) for k, r in enumerate([2, 3, 4] * 5)]
    rows += [likert("q99", "narrow", 3)]
    result = calibrate_likert(pd.DataFrame(rows), Config(), method="linear", shrinkage=0.0)
    adj = result.adjustments["helpfulness"]["raters"]["narrow"]
    cohort = result.adjustments["helpfulness"]["cohorts"]["all"]
    total_slope = cohort["slope"] + adj["slope"] - 1
    assert total_slope == pytest.approx(2.0, abs=1e-9)
    assert cohort["offset"] + adj["offset"] == pytest.approx(0.0, abs=1e-9)
    calibrated = result.calibrated.set_index("item_id")["rating_calibrated"]
    assert calibrated["q0"] == pytest.approx(1.0) and calibrated["q2"] == pytest.approx(5.0)


def test_groups_without_gold_are_not_adjusted_and_ids_are_pseudonymized():
    df, _ = simulate()
    extra = pd.DataFrame([likert(f"q{j}", "newcomer", 3) for j in range(5)]).astype({"gold_rating": "Int64"})
    result = calibrate_likert(pd.concat([df, extra], ignore_index=True), Config())
    raters = result.adjustments["helpfulness"]["raters"]
    assert raters["newcomer"] == {**raters["newcomer"], "n_gold": 0, "offset": 0.0, "slope": 1.0}
    dumped = json.dumps(result.to_dict())
    assert "ana@vendor.example" not in dumped and pseudonymize("ana@vendor.example") in raters


def test_cohorts_by_period_of_labeled_at():
    df, _ = simulate()
    df["labeled_at"] = np.where(df["batch_id"] == "b1", "2025-01-10T12:00:00Z", "2025-02-10T12:00:00+00:00")
    result = calibrate_likert(df, Config(), cohort_freq="M")
    cohorts = result.adjustments["helpfulness"]["cohorts"]
    assert sorted(cohorts) == ["2025-01", "2025-02"]
    assert cohorts["2025-02"]["offset"] < -0.8 and cohorts["2025-01"]["offset"] == 0.0
    assert result.to_dict()["cohort"] == "labeled_at/M"


def test_calibration_input_errors():
    df, _ = simulate(n_items=6)
    with pytest.raises(InputError, match="cohort column 'vendor' is not in the batch"):
        calibrate_likert(df, Config(), cohort="vendor")
    with pytest.raises(InputError, match="cohorts by period need a labeled_at column"):
        calibrate_likert(df, Config(), cohort_freq="W")
    with pytest.raises(InputError, match="unknown calibration method 'isotonic'"):
        calibrate_likert(df, Config(), method="isotonic")


def _drift_frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    start = pd.Timestamp("2025-03-03T09:00:00Z")
    rows = []
    for k in range(80):
        when = (start + pd.Timedelta(hours=6 * k)).isoformat()
        early = k < 40
        for rater, p_correct in (("steady", 0.9), ("tiring", 0.95 if early else 0.4)):
            choice = "a" if rng.random() < p_correct else "b"
            rows.append({"batch_id": "b", "item_id": f"g{k}", "rater_id": rater, "dimension": "helpfulness",
                         "task_type": "pairwise", "prompt": "p", "response_a": "x", "response_b": "y",
                         "choice": choice, "gold_choice": "a", "is_gold": True, "labeled_at": when})
    for k in range(6):
        rows.append({"batch_id": "b", "item_id": f"g{k}", "rater_id": "brief", "dimension": "helpfulness",
                     "task_type": "pairwise", "prompt": "p", "response_a": "x", "response_b": "y", "choice": "a",
                     "gold_choice": "a", "is_gold": True, "labeled_at": (start + pd.Timedelta(hours=k)).isoformat()})
    return pd.DataFrame(rows)


def test_declining_gold_accuracy_is_detected_with_the_two_proportion_test():
    df = _drift_frame()
    drift = gold_accuracy_drift(df, Config(), freq="W")["raters"]
    tiring = drift["tiring"]
    rows = df[df["rater_id"] == "tiring"]
    correct = (rows["choice"] == "a").to_numpy()
    early, late = correct[:40], correct[40:]
    _, p = proportions_ztest([early.sum(), late.sum()], [40, 40])
    assert tiring["drift"] == "declining"
    assert tiring["p_value"] == pytest.approx(p, abs=1e-12) and tiring["p_value"] < 0.001
    assert tiring["early_accuracy"] == early.mean() and tiring["late_accuracy"] == late.mean()
    assert sum(period["n"] for period in tiring["periods"]) == 80
    assert tiring["periods"][0]["period"].startswith("2025-03-03")
    assert drift["steady"]["drift"] == "stable"
    assert drift["brief"]["drift"] == "insufficient_data" and drift["brief"]["p_value"] is None


def test_drift_needs_labeled_at():
    df = _drift_frame().drop(columns=["labeled_at"])
    with pytest.raises(InputError, match="needs a labeled_at column"):
        gold_accuracy_drift(df, Config())
