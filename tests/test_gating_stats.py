"""The statistics the gates decide on, against statsmodels / scikit-learn as references."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import ztest

from alignment_ci.evals.stats import (
    expected_calibration_error,
    non_inferiority_test,
    pairwise_accuracy,
    win_scores,
    wilson_interval,
)
from alignment_ci.evals.winrate import reward_model_win_scores
from alignment_ci.gating.results import at_least, at_most


@pytest.mark.parametrize("k,n", [(0, 10), (10, 10), (7, 20), (48, 48), (1, 3), (333, 1000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_interval_matches_statsmodels(k, n, confidence):
    low, high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    assert wilson_interval(k, n, confidence) == pytest.approx((low, high), abs=1e-12)


def test_wilson_interval_of_48_of_48_has_the_published_lower_bound():
    # z = 1.959964: lower = n / (n + z²) = 48 / 51.8415 = 0.92590
    assert wilson_interval(48, 48)[0] == pytest.approx(0.925900, abs=1e-6)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_pairwise_accuracy_counts_ties_as_wrong():
    result = pairwise_accuracy([0.9, 0.2, 0.5, 0.5, 0.7], [1, 0, 1, 0, 0])
    assert (result.successes, result.n) == (2, 5)
    assert result.value == 0.4


def test_expected_calibration_error_matches_sklearn_reliability_curve():
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 500)
    y = (rng.uniform(0, 1, 500) < p**1.5).astype(int)  # miscalibrated on purpose
    result = expected_calibration_error(p, y, n_bins=10)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    counts = np.bincount(np.searchsorted(np.linspace(0, 1, 11)[1:-1], p), minlength=10)
    counts = counts[counts > 0]
    expected = float(np.sum(counts / counts.sum() * np.abs(prob_true - prob_pred)))
    assert result.ece == pytest.approx(expected, abs=1e-12)
    assert [b["accuracy"] for b in result.bins] == pytest.approx(list(prob_true))
    assert result.mce == pytest.approx(float(np.max(np.abs(prob_true - prob_pred))))


def test_expected_calibration_error_of_a_hand_worked_example():
    # bin (0.6, 0.8]: p = 0.7, 0.7, labels 1, 0 -> |0.5 - 0.7| = 0.2, weight 2/3
    # bin (0.8, 1.0]: p = 0.9, label 1       -> |1.0 - 0.9| = 0.1, weight 1/3
    result = expected_calibration_error([0.7, 0.7, 0.9], [1, 0, 1], n_bins=5)
    assert result.ece == pytest.approx(2 / 3 * 0.2 + 1 / 3 * 0.1)
    assert result.mce == pytest.approx(0.2)


def test_non_inferiority_p_value_matches_statsmodels_ztest():
    rng = np.random.default_rng(0)
    scores = rng.choice([0.0, 0.5, 1.0], size=60, p=[0.3, 0.3, 0.4])
    result = non_inferiority_test(scores, margin=0.05, alpha=0.05)
    _, p = ztest(scores, value=0.45, alternative="larger")
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert result.non_inferior == (p < 0.05)
    assert (result.wins, result.ties, result.losses) == (int((scores == 1).sum()), int((scores == 0.5).sum()),
                                                          int((scores == 0).sum()))
    # the one-sided lower bound lies above 0.45 exactly when the test rejects
    assert (result.lower_bound > 0.45) == result.non_inferior


def test_all_ties_is_non_inferior_and_all_losses_is_not():
    ties = non_inferiority_test([0.5] * 30, margin=0.05)
    assert (ties.win_rate, ties.lower_bound, ties.p_value, ties.non_inferior) == (0.5, 0.5, 0.0, True)
    losses = non_inferiority_test([0.0] * 30, margin=0.05)
    assert (losses.win_rate, losses.non_inferior, losses.p_value) == (0.0, False, 1.0)


def test_win_scores_and_reward_model_win_scores():
    assert win_scores([1.0, 2.0, 3.0], [0.0, 2.0, 5.0]).tolist() == [1.0, 0.5, 0.0]
    assert win_scores([1.0, 1.05], [1.04, 1.0], tie_tolerance=0.1).tolist() == [0.5, 0.5]
    # candidate right & baseline wrong = win; both right = tie; only baseline right = loss
    assert reward_model_win_scores([1.0, 1.0, -1.0, -1.0], [-1.0, 1.0, 1.0, -1.0]).tolist() == [1.0, 0.5, 0.0, 0.5]


def test_at_least_decides_on_the_lower_bound():
    passed = at_least("acc", 0.95, 0.7, n=48, min_n=20, interval=(0.85, 0.99))
    failed = at_least("acc", 0.6, 0.7, n=48, min_n=20, interval=(0.45, 0.73))
    unsure = at_least("acc", 0.75, 0.7, n=48, min_n=20, interval=(0.61, 0.86))
    few = at_least("acc", 1.0, 0.7, n=5, min_n=20, interval=(0.57, 1.0))
    assert [d.outcome for d in (passed, failed, unsure, few)] == ["pass", "fail", "inconclusive", "inconclusive"]
    assert "only 5 units, at least 20 are needed" in few.reason
    assert "it must be at least 0.700" in failed.reason


def test_at_most_decides_on_the_upper_bound():
    assert at_most("ece", 0.02, 0.15, n=48, min_n=20).outcome == "pass"
    assert at_most("ece", 0.3, 0.15, n=48, min_n=20).outcome == "fail"
    assert at_most("rate", 0.05, 0.1, n=40, min_n=10, interval=(0.01, 0.17)).outcome == "inconclusive"
