"""The statistics the gates decide on: Wilson intervals (from :mod:`alignment_ci.intervals`,
shared with label quality), pairwise accuracy, expected calibration error, win rates and a
one-sided non-inferiority test.

Pure numpy/scipy: no torch, so the evaluate metric modules and the report can use them
without loading a model. statsmodels and scikit-learn are the references in the tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..intervals import wilson_interval


@dataclass
class Proportion:
    """A share with its Wilson interval."""

    value: float
    successes: float
    n: int
    interval: tuple[float, float]
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["interval"] = list(self.interval)
        return d


def proportion(successes: float, n: int, confidence: float = 0.95) -> Proportion:
    """``successes / n`` (NaN when ``n == 0``) with its Wilson interval."""
    value = successes / n if n else float("nan")
    return Proportion(value, float(successes), int(n), wilson_interval(successes, n, confidence), confidence)


def pairwise_accuracy(prob_first: Sequence[float], first_preferred: Sequence[int], confidence: float = 0.95) -> Proportion:
    """Share of pairs the model orders like the reference, with a Wilson interval.

    ``prob_first[i]`` is the model's P(first ≻ second) (for a reward model
    ``σ(r₁ - r₂)``, Bradley-Terry); ``first_preferred[i]`` is 1 when the reference
    prefers the first response, 0 when it prefers the second. A pair is right when
    ``p > 0.5`` and the first is preferred, or ``p < 0.5`` and the second is; a tie
    (``p == 0.5``) is never right, as in TRL's reward accuracy (``r(chosen) > r(rejected)``).
    """
    p = np.asarray(prob_first, dtype=float)
    y = np.asarray(first_preferred, dtype=int)
    if p.shape != y.shape:
        raise ValueError(f"{len(p)} probabilities but {len(y)} references")
    right = ((p > 0.5) & (y == 1)) | ((p < 0.5) & (y == 0))
    return proportion(int(right.sum()), int(len(p)), confidence)


@dataclass
class Calibration:
    """Expected calibration error and its reliability table."""

    ece: float
    mce: float
    n: int
    n_bins: int
    bins: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def expected_calibration_error(probs: Sequence[float], labels: Sequence[int], n_bins: int = 10) -> Calibration:
    """Expected calibration error with equal-width bins (Naeini et al. 2015; Guo et al. 2017).

    ``ECE = Σ_b (n_b / N) · |acc_b - conf_b|`` where bin ``b`` holds the predictions with
    ``p`` in ``(edge_b, edge_{b+1}]`` (the first bin also holds 0), ``acc_b`` is the share
    of positive labels in it and ``conf_b`` its mean predicted probability. ``mce`` is the
    largest per-bin gap (maximum calibration error). Bins are assigned exactly as
    ``sklearn.calibration.calibration_curve(strategy="uniform")`` assigns them.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    p = np.asarray(probs, dtype=float)
    y = np.asarray(labels, dtype=float)
    if p.shape != y.shape:
        raise ValueError(f"{len(p)} probabilities but {len(y)} labels")
    if p.size and (np.nanmin(p) < 0 or np.nanmax(p) > 1 or np.isnan(p).any()):
        raise ValueError("probabilities must lie in [0, 1]")
    if p.size == 0:
        return Calibration(float("nan"), float("nan"), 0, n_bins, [])
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], p)  # as scikit-learn's calibration_curve
    counts = np.bincount(ids, minlength=n_bins)
    conf_sum = np.bincount(ids, weights=p, minlength=n_bins)
    pos_sum = np.bincount(ids, weights=y, minlength=n_bins)
    bins, ece, mce = [], 0.0, 0.0
    for b in range(n_bins):
        if counts[b] == 0:
            continue
        acc, conf = pos_sum[b] / counts[b], conf_sum[b] / counts[b]
        gap = abs(acc - conf)
        ece += counts[b] / p.size * gap
        mce = max(mce, gap)
        bins.append({"low": float(edges[b]), "high": float(edges[b + 1]), "n": int(counts[b]),
                     "accuracy": float(acc), "confidence": float(conf)})
    return Calibration(float(ece), float(mce), int(p.size), n_bins, bins)


@dataclass
class NonInferiority:
    """A one-sided non-inferiority test of a mean win score against ``0.5 - margin``."""

    win_rate: float
    n: int
    wins: int
    ties: int
    losses: int
    margin: float
    null_value: float
    lower_bound: float
    p_value: float
    alpha: float
    non_inferior: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def win_scores(candidate: Sequence[float], baseline: Sequence[float], tie_tolerance: float = 0.0) -> np.ndarray:
    """Per-unit win scores: 1 when the candidate's score beats the baseline's by more than
    ``tie_tolerance``, 0 when it loses by more, 0.5 for a tie."""
    c = np.asarray(candidate, dtype=float)
    b = np.asarray(baseline, dtype=float)
    if c.shape != b.shape:
        raise ValueError(f"{len(c)} candidate scores but {len(b)} baseline scores")
    diff = c - b
    return np.where(diff > tie_tolerance, 1.0, np.where(diff < -tie_tolerance, 0.0, 0.5))


def non_inferiority_test(scores: Sequence[float], margin: float = 0.05, alpha: float = 0.05) -> NonInferiority:
    """One-sided test that the candidate is no worse than the baseline by more than ``margin``.

    ``scores`` are per-unit win scores in [0, 1] (win 1, tie 0.5, loss 0); their mean is
    the win rate ``w``. Hypotheses: ``H0: w ≤ 0.5 - margin`` (the candidate is worse by
    more than the margin) against ``H1: w > 0.5 - margin``. The statistic is the one-sample
    z-test ``z = (w̄ - w₀) / (s/√n)`` (as ``statsmodels.stats.weightstats.ztest(...,
    alternative="larger")``); the candidate is non-inferior when ``p < alpha``, which is the
    same as the one-sided lower confidence bound ``w̄ - z₁₋α·s/√n`` lying above ``w₀``.
    With zero variance (e.g. every unit a tie) the bound is the mean itself.

    Applied to several slices at once this is an intersection-union test: requiring every
    slice to reject its own H0 at ``alpha`` keeps the overall level at ``alpha`` without a
    multiplicity correction (Berger 1982).
    """
    from scipy.stats import norm

    if not 0 <= margin < 0.5:
        raise ValueError(f"margin must lie in [0, 0.5), got {margin}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha}")
    s = np.asarray(scores, dtype=float)
    n = int(s.size)
    null = 0.5 - margin
    wins, ties = int((s == 1.0).sum()), int((s == 0.5).sum())
    losses = n - wins - ties
    if n == 0:
        return NonInferiority(float("nan"), 0, 0, 0, 0, margin, null, float("nan"), 1.0, alpha, False)
    mean = float(s.mean())
    sd = float(s.std(ddof=1)) if n > 1 else 0.0
    if sd == 0.0:
        lower, p_value = mean, (0.0 if mean > null else 1.0)
    else:
        se = sd / math.sqrt(n)
        lower = mean - float(norm.ppf(1 - alpha)) * se
        p_value = float(norm.sf((mean - null) / se))
    return NonInferiority(mean, n, wins, ties, losses, margin, null, float(lower), float(p_value), alpha,
                          bool(p_value < alpha))


@dataclass
class PairedAccuracy:
    """Two classifiers (reward models) scored on the same units: McNemar's exact test on the
    discordant units and the accuracy difference with Newcombe's interval."""

    n: int
    candidate_accuracy: float
    baseline_accuracy: float
    difference: float  # candidate - baseline
    both_right: int
    candidate_only: int  # discordant: the candidate right, the baseline wrong
    baseline_only: int  # discordant: the baseline right, the candidate wrong
    both_wrong: int
    p_value: float | None  # McNemar exact, two-sided; None when no unit is discordant
    p_worse: float | None  # exact, one-sided: the candidate is worse (more baseline_only)
    interval: tuple[float, float]  # two-sided, at ``confidence``
    confidence: float

    @property
    def discordant(self) -> int:
        return self.candidate_only + self.baseline_only

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["interval"] = list(self.interval)
        out["discordant"] = self.discordant
        return out


def mcnemar_exact(candidate_only: int, baseline_only: int) -> tuple[float | None, float | None]:
    """McNemar's exact test: under H0 (equal accuracy) each discordant unit is the candidate's
    with probability 1/2, so ``candidate_only ~ Binomial(b + c, 1/2)``. Returns the two-sided
    p-value (as ``statsmodels.stats.contingency_tables.mcnemar(table, exact=True)``) and the
    one-sided p-value that the candidate is worse; ``(None, None)`` without a discordant unit
    (there is nothing to test: no unit changed)."""
    from scipy.stats import binomtest

    n = candidate_only + baseline_only
    if n == 0:
        return None, None
    two_sided = min(1.0, 2.0 * float(binomtest(min(candidate_only, baseline_only), n, 0.5, alternative="less").pvalue))
    worse = float(binomtest(candidate_only, n, 0.5, alternative="less").pvalue)
    return two_sided, worse


def paired_accuracy(candidate_correct: Sequence[bool], baseline_correct: Sequence[bool],
                    confidence: float = 0.95) -> PairedAccuracy:
    """Compare two accuracies measured on the same units.

    The 2×2 table of (candidate right?, baseline right?) gives McNemar's exact test
    (:func:`mcnemar_exact`) and the difference ``Δ = (b - c)/n`` with the hybrid score
    interval of Newcombe (1998, "Improved confidence intervals for the difference between
    binomial proportions based on paired data", method 10): Wilson intervals of both
    accuracies combined with the phi correlation of the table. It stays inside [-1, 1] and
    does not collapse when no unit is discordant.
    """
    c = np.asarray(candidate_correct, dtype=bool)
    b = np.asarray(baseline_correct, dtype=bool)
    if c.shape != b.shape:
        raise ValueError(f"{len(c)} candidate outcomes but {len(b)} baseline outcomes")
    n = int(c.size)
    both = int((c & b).sum())
    cand_only = int((c & ~b).sum())
    base_only = int((~c & b).sum())
    neither = n - both - cand_only - base_only
    if n == 0:
        nan = float("nan")
        return PairedAccuracy(0, nan, nan, nan, 0, 0, 0, 0, None, None, (-1.0, 1.0), confidence)
    p1, p2 = (both + cand_only) / n, (both + base_only) / n
    l1, u1 = wilson_interval(both + cand_only, n, confidence)
    l2, u2 = wilson_interval(both + base_only, n, confidence)
    denom = (both + cand_only) * (base_only + neither) * (both + base_only) * (cand_only + neither)
    phi = (both * neither - cand_only * base_only) / math.sqrt(denom) if denom > 0 else 0.0
    diff = p1 - p2
    lower = diff - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    upper = diff + math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    p_two, p_worse = mcnemar_exact(cand_only, base_only)
    return PairedAccuracy(n, p1, p2, diff, both, cand_only, base_only, neither, p_two, p_worse,
                          (max(-1.0, lower), min(1.0, upper)), confidence)


def format_p(p: float | None) -> str:
    """A p-value for a sentence: ``p = 0.031``, ``p < 0.0001``; never ``p = 0``."""
    if p is None:
        return "no test (nothing to compare)"
    if p < 1e-4:
        return "p < 0.0001"
    return f"p = {p:.2g}" if p < 0.01 else f"p = {p:.3f}".rstrip("0").rstrip(".") if p < 1 else "p = 1"
