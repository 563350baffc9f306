"""Paired accuracy of two reward models: McNemar's exact test against statsmodels, and the
coverage of Newcombe's paired interval."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar

from alignment_ci.evals.stats import format_p, mcnemar_exact, paired_accuracy


@pytest.mark.parametrize("b, c", [(10, 5), (0, 7), (3, 3), (1, 0), (25, 40), (0, 1)])
def test_mcnemar_exact_matches_statsmodels(b, c):
    two_sided, _ = mcnemar_exact(b, c)
    assert two_sided == pytest.approx(mcnemar([[20, b], [c, 4]], exact=True).pvalue, rel=1e-12)


def test_one_sided_p_is_small_only_when_the_candidate_loses_more_pairs():
    assert mcnemar_exact(0, 10)[1] == pytest.approx(0.5 ** 10)
    assert mcnemar_exact(10, 0)[1] == pytest.approx(1.0)


def test_no_discordant_pair_has_no_test_and_never_reads_p_zero():
    res = paired_accuracy([True] * 30 + [False] * 2, [True] * 30 + [False] * 2)
    assert (res.discordant, res.p_value, res.difference) == (0, None, 0.0)
    assert res.interval[0] < 0 < res.interval[1]  # Newcombe's interval does not collapse
    assert format_p(res.p_value) == "no test (nothing to compare)"
    assert format_p(0.0) == "p < 0.0001" and format_p(3e-9) == "p < 0.0001"


def test_table_counts_and_difference():
    cand = [1, 1, 0, 0, 1, 1]
    base = [1, 0, 1, 0, 0, 1]
    res = paired_accuracy(cand, base)
    assert (res.both_right, res.candidate_only, res.baseline_only, res.both_wrong) == (2, 2, 1, 1)
    assert res.difference == pytest.approx(4 / 6 - 3 / 6)
    assert res.interval[0] <= res.difference <= res.interval[1]


def test_newcombe_interval_covers_the_true_difference_about_95_percent_of_the_time():
    """Simulated paired outcomes (correlated, true accuracies 0.80 and 0.75): the 95% interval
    should cover the true difference in roughly 95% of samples (Newcombe reports 0.93-0.97)."""
    rng = np.random.default_rng(7)
    probs = {(1, 1): 0.70, (1, 0): 0.10, (0, 1): 0.05, (0, 0): 0.15}
    cells = list(probs)
    true_diff = 0.80 - 0.75
    hits, reps, n = 0, 1500, 60
    for _ in range(reps):
        draws = rng.choice(len(cells), size=n, p=list(probs.values()))
        cand = np.array([cells[k][0] for k in draws], dtype=bool)
        base = np.array([cells[k][1] for k in draws], dtype=bool)
        lo, hi = paired_accuracy(cand, base).interval
        hits += lo <= true_diff <= hi
    assert 0.925 <= hits / reps <= 0.98
