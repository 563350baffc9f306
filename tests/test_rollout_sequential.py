"""The always-valid tests: validity under frequent looks, the formulas against references, power."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from alignment_ci.rollout.sequential import (
    ArmSummary,
    mean_shift_evalue,
    merge_evalues,
    rate_ratio_evalue,
    rate_ratio_log_lr,
    rate_ratio_prior,
    wald_sprt_log_lr,
)
from alignment_ci.rollout.simulator import simulate_bad_event_runs


def _max_log_evalue(runs, share, margin=0.0, effect=0.4, width=0.25):
    """sup over every event of the log mixture e-value, per run (the largest values follow candidate bad events)."""
    prior = rate_ratio_prior(margin, effect, width)
    c = np.broadcast_to(np.arange(1, runs.position.shape[1] + 1, dtype=float), runs.position.shape)
    acc = np.full(runs.position.shape, -np.inf)
    for rho, log_w in zip(prior.rho, prior.log_weight):
        lr = rate_ratio_log_lr(c[..., None], runs.baseline_bad[..., None], np.array([share]), np.array([rho]), 1 + margin)
        acc = np.logaddexp(acc, lr[..., 0] + log_w)
    acc = np.where(runs.position <= runs.horizon, acc, -np.inf)
    return acc.max(axis=1)


def test_false_rollback_rate_stays_below_alpha_when_looking_after_every_event():
    rng = np.random.default_rng(7)
    alpha = 0.05
    runs = simulate_bad_event_runs(3000, 5000, 0.05, 0.05, 0.1, rng)
    rolled_back = (_max_log_evalue(runs, 0.1) >= math.log(1 / alpha)).mean()
    assert rolled_back <= alpha
    # The same data, judged by a fixed-sample z-test repeated every 100 candidate events,
    # rolls back far more often than its nominal 5%: the inflation the e-value avoids.
    naive = np.zeros(runs.position.shape[0], dtype=bool)
    for look in range(100, 5001, 100):
        bad = (runs.position <= look).sum(axis=1)
        z = (bad / look - 0.05) / math.sqrt(0.05 * 0.95 / look)
        naive |= z > stats.norm.ppf(1 - alpha)
    assert naive.mean() > 2 * alpha


def test_candidate_better_than_baseline_is_rolled_back_even_less():
    rng = np.random.default_rng(8)
    runs = simulate_bad_event_runs(2000, 5000, 0.04, 0.05, 0.1, rng)
    assert (_max_log_evalue(runs, 0.1) >= math.log(20)).mean() < 0.005


def test_regression_of_forty_percent_is_caught_within_the_horizon():
    rng = np.random.default_rng(9)
    runs = simulate_bad_event_runs(1000, 5000, 0.07, 0.05, 0.1, rng)
    assert (_max_log_evalue(runs, 0.1) >= math.log(20)).mean() > 0.95


def test_log_likelihood_ratio_matches_per_event_bernoulli_likelihoods():
    # Bad events over three router weights; each is from the candidate (1) or the baseline (0).
    shares = np.array([0.02, 0.1, 0.5])
    arms = [np.array([1, 0, 0, 0, 1]), np.array([0, 1, 1, 0]), np.array([1, 0, 1])]
    rho1, rho0 = 1.5, 1.1

    def q(s, rho):
        return s * rho / (s * rho + 1 - s)

    expected = sum(
        stats.bernoulli.logpmf(x, q(s, rho1)).sum() - stats.bernoulli.logpmf(x, q(s, rho0)).sum()
        for s, x in zip(shares, arms)
    )
    got = rate_ratio_log_lr(
        np.array([a.sum() for a in arms]), np.array([len(a) - a.sum() for a in arms]), shares, np.array([rho1]), rho0
    )
    assert got[0] == pytest.approx(expected, rel=1e-12)


def test_mixture_prior_is_normalised_and_lives_above_the_margin():
    prior = rate_ratio_prior(margin=0.05, effect=0.4, width=0.25)
    assert np.exp(prior.log_weight).sum() == pytest.approx(1.0)
    assert prior.rho.min() > 1.05
    assert prior.rho[np.argmax(prior.log_weight)] == pytest.approx(1.4, rel=0.05)
    with pytest.raises(ValueError, match="effect"):
        rate_ratio_prior(margin=0.3, effect=0.2, width=0.25)


def test_rate_ratio_evalue_is_one_without_bad_events_and_large_for_a_clear_regression():
    prior = rate_ratio_prior(0.0, 0.4, 0.25)
    assert rate_ratio_evalue([0], [0], [0.1], 0.0, prior) == pytest.approx(1.0)
    # 10% share, 60 of 300 bad events from the candidate (expected 30 under the null).
    assert rate_ratio_evalue([60], [240], [0.1], 0.0, prior) > 1000


def test_half_normal_mixture_matches_numerical_integration():
    cand = ArmSummary(n=400, mean=265.0, var=80.0**2)
    base = ArmSummary(n=4000, mean=250.0, var=80.0**2)
    margin, effect = 0.02, 0.1
    delta = cand.mean - (1 + margin) * base.mean
    v = cand.var / cand.n + (1 + margin) ** 2 * base.var / base.n
    tau = (effect - margin) * base.mean

    def integrand(theta):
        lr = math.exp((theta * delta - theta**2 / 2) / v)
        return lr * 2 * stats.norm.pdf(theta, scale=tau)

    expected, _ = integrate.quad(integrand, 0, 20 * tau)
    assert mean_shift_evalue(cand, base, "lower", margin, effect) == pytest.approx(expected, rel=1e-6)


def test_numeric_test_direction_and_minimum_sample():
    base = ArmSummary(n=5000, mean=0.8, var=0.16)
    worse = ArmSummary(n=2000, mean=0.7, var=0.21)
    assert mean_shift_evalue(worse, base, "higher", 0.0, 0.1) > 1e6
    assert mean_shift_evalue(worse, base, "lower", 0.0, 0.1) < 1
    assert mean_shift_evalue(ArmSummary(10, 0.1, 0.1), base, "higher", 0.0, 0.1) == 1.0


def test_numeric_false_rollback_rate_under_the_null_with_frequent_looks():
    rng = np.random.default_rng(3)
    alpha, rolled = 0.05, 0
    for _ in range(300):
        c = rng.gamma(4.0, 62.5, size=3000)
        b = rng.gamma(4.0, 62.5, size=3000)
        for n in range(100, 3001, 100):
            e = mean_shift_evalue(ArmSummary.of(c[:n]), ArmSummary.of(b[:n]), "lower", 0.0, 0.2)
            if e >= 1 / alpha:
                rolled += 1
                break
    assert rolled / 300 <= alpha


def test_merge_is_the_mean_and_wald_matches_binomial_likelihoods():
    assert merge_evalues([1.0, 3.0, 50.0]) == pytest.approx(18.0)
    assert merge_evalues([]) == 1.0
    expected = stats.binom.logpmf(9, 100, 0.07) - stats.binom.logpmf(9, 100, 0.05)
    assert wald_sprt_log_lr(np.array(9), np.array(100), 0.05, 0.07) == pytest.approx(expected)
