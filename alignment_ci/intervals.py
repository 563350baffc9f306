"""Confidence intervals for a binomial proportion: the one Wilson interval that label
quality (a rater's gold accuracy) and the gates (pass rates, paired accuracy) share.

Computed by statsmodels (``proportion_confint(method="wilson")``), loaded when first used.
"""

from __future__ import annotations


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided Wilson score interval for a binomial proportion (Wilson 1927).

    ``p̂ = k/n``, ``z = Φ⁻¹(1 - α/2)``; the interval is
    ``(p̂ + z²/2n ± z·sqrt(p̂(1-p̂)/n + z²/4n²)) / (1 + z²/n)``. Unlike the normal
    (Wald) interval it stays inside [0, 1] and does not collapse at 0/n or n/n.
    ``n == 0`` gives the uninformative ``(0, 1)``.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes ({successes}) must lie in [0, n={n}]")
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    return max(0.0, float(low)), min(1.0, float(high))
