"""Likert calibration against gold items, and drift of gold accuracy over time.

Re-anchoring (:func:`calibrate_likert`).  What "4/5 helpful" means drifts between rater
cohorts (vendors, batches, months) and between raters.  On gold items the error
``gold_rating - rating`` is modelled, per dimension, as

    adjustment(rating) = offset + (slope - 1) * (rating - centre)

first per cohort, then per rater on what the cohort adjustment leaves.  Each fit is a
ridge regression shrunk towards "no adjustment" (offset 0, slope 1) with a pseudo-count of
``shrinkage`` gold judgments, i.e. the posterior mean under a Gaussian prior centred on
the identity map, so a group with few gold items is barely moved.  ``method="offset"``
fits the offset only (slope fixed at 1).  Calibrated ratings are the original plus the
cohort and rater adjustments, clipped to the dimension's scale; the adjustments applied
are reported per group and per scale point.

Drift (:func:`gold_accuracy_drift`).  A rater's gold judgments in ``labeled_at`` order are
cut into an early and a late half; the change in accuracy is tested with the
two-proportion z-test (statsmodels ``proportions_ztest``), and accuracy per calendar
period is listed for the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from alignment_ci.config import Config, QualitySettings
from alignment_ci.errors import InputError
from alignment_ci.quality.agreement import coded_judgments
from alignment_ci.textsafety import pseudonymize
from .. import lazy

pd = lazy.module("pandas")


@dataclass
class LikertCalibration:
    """Result of :func:`calibrate_likert`.

    ``adjustments``: ``{dimension: {"scale": [min, max], "cohorts": {cohort: {...}},
    "raters": {rater: {...}}}}`` (rater ids pseudonymized); ``calibrated``: the likert rows
    with ``cohort``, ``cohort_adjustment``, ``rater_adjustment`` and ``rating_calibrated``.
    """

    method: str
    cohort: str | None
    adjustments: dict[str, Any] = field(default_factory=dict)
    calibrated: pd.DataFrame = field(default_factory=lambda: pd.DataFrame())

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "cohort": self.cohort, "dimensions": self.adjustments}


def _quality(config: Config | None) -> QualitySettings:
    """``config.quality``, or the built-in defaults without a config."""
    return config.quality if config is not None else QualitySettings()


def _ridge_fit(x: np.ndarray, y: np.ndarray, shrinkage: float, with_slope: bool) -> tuple[float, float]:
    """(offset, slope - 1) minimising sum (y - a - b x)^2 + shrinkage (a^2 + b^2 var0).

    The slope penalty is scaled by the spread of ``x`` so both coefficients are shrunk by
    the same number of pseudo-observations.
    """
    n = len(x)
    if n == 0:
        return 0.0, 0.0
    if not with_slope:
        return float(y.sum() / (n + shrinkage)), 0.0
    X = np.column_stack([np.ones(n), x])
    var0 = max(float(np.mean(x**2)), 1.0)
    A = X.T @ X + shrinkage * np.diag([1.0, var0])
    a, b = np.linalg.solve(A, X.T @ y)
    return float(a), float(b)


def _scale_for(config: Config | None, dimension: str, ratings: np.ndarray) -> tuple[float, float]:
    """The dimension's scale from the taxonomy (built-in defaults without a config), else the observed range."""
    dim = (config if config is not None else Config()).taxonomy.get(dimension)
    if dim is not None:
        return float(dim.scale.min), float(dim.scale.max)
    finite = ratings[~np.isnan(ratings)]
    return (float(finite.min()), float(finite.max())) if len(finite) else (1.0, 5.0)


def _cohort_labels(frame: pd.DataFrame, cohort: str | None, cohort_freq: str | None) -> np.ndarray:
    if cohort_freq is not None:
        if "labeled_at" not in frame.columns:
            raise InputError("cohorts by period need a labeled_at column (ISO-8601 timestamps) in the batch")
        when = pd.to_datetime(frame["labeled_at"], utc=True, format="ISO8601", errors="coerce")
        return when.dt.tz_localize(None).dt.to_period(cohort_freq).astype(str).where(when.notna(), "unknown").to_numpy()
    if cohort is None:
        return np.full(len(frame), "all", dtype=object)
    if cohort not in frame.columns:
        raise InputError(f"cohort column {cohort!r} is not in the batch; use one of {', '.join(map(str, frame.columns))}")
    return frame[cohort].astype(object).where(frame[cohort].notna(), "unknown").astype(str).to_numpy()


def _summary(n: int, offset: float, dslope: float, centre: float, lo: float, hi: float,
             before: np.ndarray, after: np.ndarray) -> dict[str, Any]:
    points = np.arange(lo, hi + 1)
    return {
        "n_gold": n,
        "offset": offset,
        "slope": 1.0 + dslope,
        "by_rating": {str(int(p)): float(offset + dslope * (p - centre)) for p in points},
        "mean_error_before": float(before.mean()) if len(before) else None,
        "mean_error_after": float(after.mean()) if len(after) else None,
        "mean_abs_error_before": float(np.abs(before).mean()) if len(before) else None,
        "mean_abs_error_after": float(np.abs(after).mean()) if len(after) else None,
    }


def calibrate_likert(
    df: pd.DataFrame,
    config: Config | None = None,
    *,
    cohort: str | None = None,
    cohort_freq: str | None = None,
    method: Literal["offset", "linear"] = "offset",
    shrinkage: float | None = None,
) -> LikertCalibration:
    """Re-anchor likert ratings per cohort and per rater against gold ratings.

    ``cohort`` names a column (e.g. ``batch_id``, ``sampling_bucket``, a vendor column);
    ``cohort_freq`` (a pandas period alias such as ``"W"`` or ``"M"``) makes cohorts from
    ``labeled_at`` instead. Without either, there is one cohort. Gold rows are those with a
    ``gold_rating`` (and not ``is_gold == False``). ``shrinkage`` defaults to
    ``config.quality.calibration_shrinkage``.
    """
    if shrinkage is None:
        shrinkage = _quality(config).calibration_shrinkage
    if method not in ("offset", "linear"):
        raise InputError(f"unknown calibration method {method!r}; use offset or linear")
    if shrinkage < 0:
        raise InputError(f"shrinkage must be >= 0, got {shrinkage}")
    result = LikertCalibration(method=method, cohort=f"labeled_at/{cohort_freq}" if cohort_freq else cohort)
    likert = df[df["task_type"].astype(object) == "likert"].reset_index(drop=True) if len(df) else df
    if len(likert) == 0:
        result.calibrated = likert.copy()
        return result
    coded = coded_judgments(likert)  # one coded row per likert row, in order
    rating = coded["value"].to_numpy()
    gold = coded["gold"].to_numpy()
    cohorts = _cohort_labels(likert, cohort, cohort_freq)
    raters = likert["rater_id"].astype(str).to_numpy()
    dims = likert["dimension"].astype(str).to_numpy()
    cohort_adj = np.zeros(len(likert))
    rater_adj = np.zeros(len(likert))
    calibrated = rating.copy()
    with_slope = method == "linear"
    for dim in pd.unique(dims):
        in_dim = dims == dim
        lo, hi = _scale_for(config, str(dim), rating[in_dim])
        centre = (lo + hi) / 2
        is_gold = in_dim & ~np.isnan(rating) & ~np.isnan(gold)
        report: dict[str, Any] = {"scale": [lo, hi], "centre": centre, "n_gold": int(is_gold.sum()), "cohorts": {}, "raters": {}}
        x = rating - centre
        # stage 1: cohorts
        for c in pd.unique(cohorts[in_dim]):
            members = in_dim & (cohorts == c)
            g = members & is_gold
            a, b = _ridge_fit(x[g], gold[g] - rating[g], shrinkage, with_slope)
            cohort_adj[members] = a + b * x[members]
            before = gold[g] - rating[g]
            report["cohorts"][str(c)] = _summary(int(g.sum()), a, b, centre, lo, hi, before, before - cohort_adj[g])
        # stage 2: raters, on what the cohort adjustment leaves
        for r in pd.unique(raters[in_dim]):
            members = in_dim & (raters == r)
            g = members & is_gold
            residual = gold[g] - rating[g] - cohort_adj[g]
            a, b = _ridge_fit(x[g], residual, shrinkage, with_slope)
            rater_adj[members] = a + b * x[members]
            report["raters"][pseudonymize(r)] = _summary(int(g.sum()), a, b, centre, lo, hi, residual, residual - rater_adj[g])
        calibrated[in_dim] = np.clip(rating[in_dim] + cohort_adj[in_dim] + rater_adj[in_dim], lo, hi)
        after = gold[is_gold] - calibrated[is_gold]
        before = gold[is_gold] - rating[is_gold]
        report["mean_abs_error_before"] = float(np.abs(before).mean()) if len(before) else None
        report["mean_abs_error_after"] = float(np.abs(after).mean()) if len(after) else None
        result.adjustments[str(dim)] = report
    out = likert.copy()
    out["cohort"] = cohorts
    out["cohort_adjustment"] = cohort_adj
    out["rater_adjustment"] = rater_adj
    out["rating_calibrated"] = calibrated
    result.calibrated = out
    return result


def gold_accuracy_drift(
    df: pd.DataFrame,
    config: Config | None = None,
    *,
    freq: str | None = None,
    min_judgments: int | None = None,
    p_value: float | None = None,
    likert_tolerance: float | None = None,
) -> dict[str, Any]:
    """Drift of each rater's gold accuracy over ``labeled_at``.

    Returns ``{"raters": {id: {n_gold, early_accuracy, late_accuracy, change, p_value,
    drift, periods: [{period, n, accuracy}]}}}`` where ``drift`` is ``declining``,
    ``improving``, ``stable`` or ``insufficient_data`` (fewer than ``min_judgments`` dated
    gold judgments per half). Ids are pseudonymized. Unset options come from
    ``config.quality`` (``drift_freq``, ``drift_min_judgments``, ``drift_p_value``,
    ``likert_tolerance``).
    """
    from statsmodels.stats.proportion import proportions_ztest

    q = _quality(config)
    freq = freq or q.drift_freq
    min_judgments = int(min_judgments if min_judgments is not None else q.drift_min_judgments)
    p_value = float(p_value if p_value is not None else q.drift_p_value)
    likert_tolerance = float(likert_tolerance if likert_tolerance is not None else q.likert_tolerance)

    if len(df) == 0:
        return {"raters": {}}
    if "labeled_at" not in df.columns:
        raise InputError("gold-accuracy drift needs a labeled_at column (ISO-8601 timestamps) in the batch")
    df = df.reset_index(drop=True)
    coded = coded_judgments(df)
    value, gold = coded["value"].to_numpy(), coded["gold"].to_numpy()
    keep = ~np.isnan(value) & ~np.isnan(gold)
    coded = coded[keep]
    tol = np.where(coded["task_type"].astype(object).to_numpy() == "likert", likert_tolerance, 0.0)
    correct = np.abs(value[keep] - gold[keep]) <= tol
    when = pd.to_datetime(df["labeled_at"], utc=True, format="ISO8601", errors="coerce").to_numpy()[coded["row"].to_numpy()]
    frame = pd.DataFrame({"rater_id": coded["rater_id"].astype(str).to_numpy(), "when": when, "correct": correct})
    frame = frame[frame["when"].notna()].sort_values(["rater_id", "when"], kind="stable")
    raters: dict[str, Any] = {}
    for rater, sub in frame.groupby("rater_id", sort=True):
        n = len(sub)
        half = n // 2
        early, late = sub["correct"].to_numpy()[:half], sub["correct"].to_numpy()[half:]
        periods = sub.assign(period=sub["when"].dt.tz_localize(None).dt.to_period(freq).astype(str))
        series = periods.groupby("period", sort=True)["correct"].agg(["size", "mean"])
        entry: dict[str, Any] = {
            "n_gold": n,
            "early_accuracy": float(early.mean()) if len(early) else None,
            "late_accuracy": float(late.mean()) if len(late) else None,
            "change": float(late.mean() - early.mean()) if len(early) and len(late) else None,
            "p_value": None,
            "drift": "insufficient_data",
            "periods": [{"period": p, "n": int(r["size"]), "accuracy": float(r["mean"])} for p, r in series.iterrows()],
        }
        if len(early) >= min_judgments and len(late) >= min_judgments:
            counts = np.array([early.sum(), late.sum()])
            if 0 < counts.sum() < n:
                _, p = proportions_ztest(counts, np.array([len(early), len(late)]))
                entry["p_value"] = float(p)
                significant = p < p_value
            else:
                entry["p_value"] = 1.0
                significant = False
            entry["drift"] = ("declining" if entry["change"] < 0 else "improving") if significant else "stable"
        raters[pseudonymize(str(rater))] = entry
    return {"raters": raters}
