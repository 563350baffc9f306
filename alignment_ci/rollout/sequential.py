"""Always-valid sequential tests of "the candidate is worse than the baseline by more than a margin".

Each test returns an **e-value** that is the current value of a nonnegative
supermartingale under the null hypothesis, so by Ville's inequality
``P(sup_t E_t >= 1/alpha) <= alpha``: rolling back when ``E >= 1/alpha`` keeps the
false-rollback rate at most ``alpha`` however often the controller looks (Ramdas,
Grünwald, Vovk & Shafer 2023, "Game-theoretic statistics and safe anytime-valid
inference").

Boolean metrics (:func:`rate_ratio_evalue`): the conditional Poisson test of Lindon,
Sanden & Shirikian (2022), "Rapid regression detection in software deployments through
sequential testing" (KDD). When each request goes to the candidate with probability
``s`` (the router's weight) and a bad outcome has probability ``p_c`` on the candidate
and ``p_b`` on the baseline, a bad event comes from the candidate with probability

    q(rho) = s * rho / (s * rho + 1 - s),      rho = p_c / p_b.

The null "candidate no worse than ``1 + margin`` times the baseline" is
``rho <= rho0 = 1 + margin``. For a fixed alternative ``rho1 > rho0`` the likelihood
ratio of the arms of the bad events,

    prod_i (q_i(rho1)/q_i(rho0))^{x_i} ((1-q_i(rho1))/(1-q_i(rho0)))^{1-x_i}

(``x_i = 1`` when bad event ``i`` came from the candidate, ``q_i`` at the weight in force
when it happened) has expectation ``<= 1`` at every step under any ``rho <= rho0``
(the one-step expectation is linear and increasing in ``q``), so it is a nonnegative
supermartingale for the whole composite null; so is any mixture over ``rho1``. The
baseline rate ``p_b`` cancels, and the weights may change between stages (a serving
layer that lags behind a weight *increase* only makes the test conservative). The
factors commute, so the statistic needs only the counts of bad events per arm and
per router weight.

The mixture prior is a discretised normal on ``log rho`` centred at ``log(1 + effect)``
with standard deviation ``prior_width``, truncated to ``rho > rho0``: concentrating
the prior near the practically relevant effect is what brings the expected time to
rollback close to Wald's SPRT for that effect (see docs/benchmarks.md, "Rollout").

Numeric metrics (:func:`mean_shift_evalue`): the two-sample mixture SPRT of Johari,
Koomen, Pekelis & Walsh (2017/2022), "Always valid inference: continuous monitoring of
A/B tests", with a half-normal prior for the one-sided alternative and plug-in
variances; it is valid asymptotically (central limit), not exactly.

Several metrics combine by the arithmetic mean of their e-values, the admissible
symmetric way to merge e-values (Vovk & Wang 2021, "E-values: calibration,
combination and applications", Ann. Statist.).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

MIN_NUMERIC_N = 30
"""Fewer observations than this in either arm: the numeric test returns E = 1 (no evidence)."""


@dataclass(frozen=True)
class MixturePrior:
    """A discrete prior over the rate ratio ``rho`` (grid and log-weights)."""

    rho: np.ndarray
    log_weight: np.ndarray


def rate_ratio_prior(margin: float, effect: float, width: float, points: int = 41) -> MixturePrior:
    """Normal prior on ``log rho`` centred at ``log(1 + effect)``, sd ``width``, on ``rho > 1 + margin``.

    The grid spans the centre +- 4 sd (clipped at the null boundary); weights are the
    normal density at the grid points, normalised to sum to one.
    """
    from scipy.special import logsumexp

    if effect <= margin:
        raise ValueError(f"effect ({effect}) must exceed margin ({margin})")
    lo = math.log1p(margin)
    centre = math.log1p(effect)
    upper = centre + 4 * width
    lower = max(lo, centre - 4 * width)
    # Open at the null boundary: a component at rho0 itself carries no evidence.
    u = np.linspace(lower, upper, points + 1)[1:] if lower == lo else np.linspace(lower, upper, points)
    log_w = -0.5 * ((u - centre) / width) ** 2
    log_w -= logsumexp(log_w)
    return MixturePrior(rho=np.exp(u), log_weight=log_w)


def _q(share: np.ndarray, rho: np.ndarray) -> np.ndarray:
    return share * rho / (share * rho + 1.0 - share)


def rate_ratio_log_lr(
    candidate_bad: np.ndarray,
    baseline_bad: np.ndarray,
    share: np.ndarray,
    rho1: np.ndarray,
    rho0: float,
) -> np.ndarray:
    """log likelihood ratio of ``rho1`` (each grid value) against ``rho0``.

    ``candidate_bad[k]``, ``baseline_bad[k]``: bad events of each arm while the candidate
    had traffic share ``share[k]`` (0 < share < 1; other shares carry no information).
    Arrays of the counts may have extra leading axes (simulated runs); the result has
    shape ``counts.shape[:-1] + rho1.shape``.
    """
    share = np.asarray(share, dtype=float)
    keep = (share > 0) & (share < 1)
    s = share[keep][:, None]
    r1 = np.asarray(rho1, dtype=float)[None, :]
    q0 = _q(s, np.asarray(rho0, dtype=float))
    q1 = _q(s, r1)
    a = np.log(q1 / q0)  # (windows, grid)
    b = np.log((1 - q1) / (1 - q0))
    c = np.asarray(candidate_bad, dtype=float)[..., keep]
    d = np.asarray(baseline_bad, dtype=float)[..., keep]
    return c @ a + d @ b


def rate_ratio_evalue(
    candidate_bad: Sequence[float],
    baseline_bad: Sequence[float],
    share: Sequence[float],
    margin: float,
    prior: MixturePrior,
) -> float:
    """Mixture e-value for "rate ratio > 1 + margin" from bad-event counts per router weight."""
    from scipy.special import logsumexp

    log_lr = rate_ratio_log_lr(np.asarray(candidate_bad), np.asarray(baseline_bad), np.asarray(share), prior.rho, 1 + margin)
    return float(np.exp(min(logsumexp(log_lr + prior.log_weight), 700.0)))


@dataclass(frozen=True)
class ArmSummary:
    """Count, mean and (population) variance of one arm's numeric values."""

    n: int
    mean: float
    var: float

    @classmethod
    def of(cls, values: Iterable[float]) -> "ArmSummary":
        x = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
        if x.size == 0:
            return cls(0, 0.0, 0.0)
        return cls(int(x.size), float(x.mean()), float(x.var()))


def mean_shift_evalue(
    candidate: ArmSummary,
    baseline: ArmSummary,
    direction: str,
    margin: float,
    effect: float,
) -> float:
    """One-sided normal-mixture e-value that the candidate's mean is worse beyond the margin.

    Lower is better: ``delta = mu_c - (1 + margin) mu_b``; higher is better:
    ``delta = (1 - margin) mu_b - mu_c``; the null is ``delta <= 0``. With
    ``V = var_c/n_c + k^2 var_b/n_b`` (``k`` the baseline's factor), ``W = delta_hat / V``,
    prior ``theta ~ half-normal(tau)``, ``tau = (effect - margin) |mu_b|`` and
    ``A = 1/V + 1/tau^2``, the mixture likelihood ratio is
    ``2 / (tau sqrt(A)) exp(W^2 / 2A) Phi(W / sqrt(A))`` (Johari et al. 2017, one-sided).
    """
    from scipy.special import log_ndtr

    if candidate.n < MIN_NUMERIC_N or baseline.n < MIN_NUMERIC_N:
        return 1.0
    if direction == "lower":
        k = 1.0 + margin
        delta = candidate.mean - k * baseline.mean
    else:
        k = 1.0 - margin
        delta = k * baseline.mean - candidate.mean
    variance = candidate.var / candidate.n + k * k * baseline.var / baseline.n
    tau = max((effect - margin) * abs(baseline.mean), 1e-12)
    if variance <= 0:
        return 1.0 if delta <= 0 else float("inf")
    w = delta / variance
    a = 1.0 / variance + 1.0 / (tau * tau)
    log_e = math.log(2.0) - math.log(tau) - 0.5 * math.log(a) + w * w / (2 * a) + float(log_ndtr(w / math.sqrt(a)))
    return float(math.exp(min(log_e, 700.0)))


def merge_evalues(evalues: Sequence[float]) -> float:
    """Arithmetic mean of e-values (Vovk & Wang 2021): an e-value for the intersection null."""
    if not evalues:
        return 1.0
    return float(sum(evalues) / len(evalues))


def wald_sprt_log_lr(bad: np.ndarray, n: np.ndarray, p0: float, p1: float) -> np.ndarray:
    """Wald's (1945) log likelihood ratio for Bernoulli ``p1`` against ``p0`` after ``n`` events, ``bad`` of them bad."""
    return bad * math.log(p1 / p0) + (n - bad) * math.log((1 - p1) / (1 - p0))
