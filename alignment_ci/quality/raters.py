"""Rater reliability: gold accuracy, agreement with the leave-one-out consensus, speed,
position bias, skips, and one reliability score per rater for weighted aggregation.

Per rater (over every dimension it judged):

- gold accuracy on judgments whose row carries a gold answer, with a Wilson (1927) score
  interval (statsmodels ``proportion_confint(method="wilson")``); likert ratings count as
  correct within ``likert_tolerance`` of ``gold_rating``; rankings are scored on their
  induced pairwise preferences;
- agreement with the leave-one-out (LOO) consensus: for each judgment, the other raters'
  modal value on the same unit (ties split the credit); and a chance-corrected version,
  Cohen-style ``kappa = 1 - D_o / D_e`` against that consensus, with the nominal
  difference for pairwise and ranking choices (Cohen 1960) and the quadratic one for
  likert ratings (Cohen 1968).  A kappa near 0 is near-random; one significantly below 0
  (one-sided z-test on the mean disagreement, reported as ``consensus_below_chance_z``,
  p < ``adversarial_p``) is adversarial;
- position bias: the share of ``a`` among a rater's ``a``/``b`` choices;
- skip rate; median seconds per judgment and the share below ``min_seconds_per_item``.

Reliability in [0, 1]: the chance-corrected gold and consensus kappas (clipped at 0), gold
judgments weighted ``gold_weight`` times, shrunk towards 0.5 with a pseudo-count of
``min_rater_judgments`` so a rater with little evidence sits near the middle.  0 means no
better than chance, 1 perfect.

Rater ids that look like PII (e-mail, phone) are pseudonymized in every output
(:func:`alignment_ci.textsafety.pseudonymize`); :func:`reliability_scores` returns the
ids as they are in the data, because it is an input to aggregation over the same frame,
not an output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from alignment_ci.config import Config, QualitySettings
from alignment_ci.intervals import wilson_interval
from alignment_ci.quality.agreement import coded_judgments, value_counts_matrix
from alignment_ci.textsafety import pseudonymize
from .. import lazy

pd = lazy.module("pandas")

NOMINAL_TASKS = ("pairwise", "ranking")


@dataclass(frozen=True)
class RaterThresholds:
    """Flagging thresholds: the ``quality:`` settings this module reads. Their defaults are
    :class:`~alignment_ci.config.QualitySettings`' (defined there only)."""

    min_rater_judgments: int
    min_gold_accuracy: float
    max_position_bias: float
    min_seconds_per_item: float
    min_gold_judgments: int
    min_consensus_judgments: int
    min_consensus_kappa: float
    adversarial_p: float
    min_position_judgments: int
    relative_speed: float
    likert_tolerance: float
    gold_weight: float
    prior_reliability: float

    @classmethod
    def from_config(cls, config: Config | None = None, **overrides: Any) -> "RaterThresholds":
        """Thresholds from ``config.quality`` (the built-in defaults without a config)."""
        q = config.quality if config is not None else QualitySettings()
        values = {name: getattr(q, name) for name in cls.__dataclass_fields__}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class RaterStats:
    """One rater's statistics (None where there is nothing to compute it from)."""

    rater: str
    n: int
    status: str = "ok"
    flagged: bool = False
    reasons: list[str] = field(default_factory=list)
    reliability: float = 0.5
    gold_n: int = 0
    gold_accuracy: float | None = None
    gold_ci: list[float] | None = None
    gold_kappa: float | None = None
    consensus_n: int = 0
    agreement_with_consensus: float | None = None
    consensus_kappa: float | None = None
    consensus_below_chance_z: float | None = None
    position_bias: float | None = None
    position_n: int = 0
    skip_rate: float | None = None
    median_seconds: float | None = None
    fast_share: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("rater")
        return out


def _delta(domain: np.ndarray, task_type: str) -> np.ndarray:
    if task_type in NOMINAL_TASKS:
        return (domain[:, None] != domain[None, :]).astype(float)
    return (domain[:, None] - domain[None, :]) ** 2


@dataclass
class _Acc:
    """Per-rater sums over task types, combined at the end."""

    n: float = 0.0
    credit: float = 0.0
    kappa_weighted: float = 0.0
    kappa_n: float = 0.0
    z_num: float = 0.0
    z_var: float = 0.0


def _consensus_stats(coded: pd.DataFrame) -> dict[Any, _Acc]:
    """Leave-one-out consensus agreement and kappa per rater (vectorised per task type)."""
    acc: dict[Any, _Acc] = {}
    for task_type, idx in coded.groupby("task_type", observed=True).indices.items():
        sub = coded.iloc[idx]
        value = sub["value"].to_numpy()
        present = ~np.isnan(value)
        sub = sub[present]
        if sub.empty:
            continue
        units, _ = pd.factorize(sub["unit"])
        counts, domain = value_counts_matrix(units, sub["value"].to_numpy())
        codes = np.searchsorted(domain, sub["value"].to_numpy())
        others = counts[units].astype(float)
        others[np.arange(len(codes)), codes] -= 1
        top = others.max(axis=1)
        has_others = top > 0
        consensus = (others == top[:, None]) & has_others[:, None]
        consensus = consensus / np.maximum(consensus.sum(axis=1, keepdims=True), 1)
        keep = np.flatnonzero(has_others)
        delta = _delta(domain, str(task_type))
        disagreement = (consensus[keep] * delta[codes[keep]]).sum(axis=1)
        credit = consensus[keep, codes[keep]]
        raters = sub["rater_id"].to_numpy()[keep]
        for rater, ridx in pd.Series(np.arange(len(keep))).groupby(raters, sort=False).indices.items():
            a = acc.setdefault(rater, _Acc())
            n = len(ridx)
            p_rater = np.bincount(codes[keep][ridx], minlength=len(domain)) / n
            p_cons = consensus[keep][ridx].mean(axis=0)
            d_o = disagreement[ridx].mean()
            d_e = float(p_rater @ delta @ p_cons)
            a.n += n
            a.credit += credit[ridx].sum()
            if d_e > 0:
                kappa = 1 - d_o / d_e
                a.kappa_weighted += kappa * n
                a.kappa_n += n
                # z for "disagrees more than chance": (D_o - D_e) / SE(D_o), SE scaled by D_e
                se = disagreement[ridx].std(ddof=1) / np.sqrt(n) if n > 1 else np.inf
                se = se if se > 0 else d_e / n  # a rater who always disagrees: finite, large z
                a.z_num += n * (d_o - d_e) / d_e
                a.z_var += (n * se / d_e) ** 2
    return acc


def _gold_stats(coded: pd.DataFrame, tolerance: float) -> dict[Any, tuple[int, int, float | None]]:
    """(correct, n, chance-corrected kappa vs gold) per rater."""
    mask = ~np.isnan(coded["value"].to_numpy()) & ~np.isnan(coded["gold"].to_numpy())
    gold = coded[mask]
    out: dict[Any, tuple[int, int, float | None]] = {}
    if gold.empty:
        return out
    per_rater: dict[Any, list[float]] = {}
    for task_type, idx in gold.groupby("task_type", observed=True).indices.items():
        sub = gold.iloc[idx]
        v = sub["value"].to_numpy()
        g = sub["gold"].to_numpy()
        tol = tolerance if task_type == "likert" else 0.0
        correct = np.abs(v - g) <= tol
        domain = np.union1d(v, g)
        match = np.abs(domain[:, None] - domain[None, :]) <= tol
        vi, gi = np.searchsorted(domain, v), np.searchsorted(domain, g)
        for rater, ridx in pd.Series(np.arange(len(sub))).groupby(sub["rater_id"].to_numpy(), sort=False).indices.items():
            n = len(ridx)
            p_r = np.bincount(vi[ridx], minlength=len(domain)) / n
            p_g = np.bincount(gi[ridx], minlength=len(domain)) / n
            p_e = float(p_r @ match @ p_g)
            k = int(correct[ridx].sum())
            s = per_rater.setdefault(rater, [0.0, 0.0, 0.0, 0.0])
            s[0] += k
            s[1] += n
            if p_e < 1:
                s[2] += n * ((k / n - p_e) / (1 - p_e))
                s[3] += n
    for rater, (k, n, kw, kn) in per_rater.items():
        out[rater] = (int(k), int(n), kw / kn if kn else None)
    return out


def _row_stats(df: pd.DataFrame, coded: pd.DataFrame) -> pd.DataFrame:
    """Per-rater n, skip rate, position bias and timing from the source rows."""
    n_rows = len(df)
    row = coded["row"].to_numpy()
    present = ~np.isnan(coded["value"].to_numpy())
    answered = np.bincount(row, weights=present, minlength=n_rows) > 0
    pairwise = (coded["task_type"].astype(object) == "pairwise").to_numpy()
    value = coded["value"].to_numpy()
    is_a = np.zeros(n_rows)
    is_ab = np.zeros(n_rows)
    is_a[row[pairwise & (value == 1.0)]] = 1
    is_ab[row[pairwise & ((value == 1.0) | (value == 3.0))]] = 1
    frame = pd.DataFrame({"rater_id": df["rater_id"].to_numpy(), "skip": ~answered, "a": is_a, "ab": is_ab})
    if "time_spent_s" in df.columns:
        seconds = pd.to_numeric(df["time_spent_s"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    else:
        seconds = np.full(n_rows, np.nan)
    frame["seconds"] = seconds
    g = frame.groupby("rater_id", sort=True)
    out = pd.DataFrame(
        {
            "n": g.size(),
            "skips": g["skip"].sum(),
            "a": g["a"].sum(),
            "ab": g["ab"].sum(),
            "median_seconds": g["seconds"].median(),
            "timed": g["seconds"].count(),
        }
    )
    return out


def _rater_table(df: pd.DataFrame, thresholds: RaterThresholds) -> dict[Any, RaterStats]:
    from scipy.stats import norm

    df = df.reset_index(drop=True)
    coded = coded_judgments(df)
    rows = _row_stats(df, coded)
    consensus = _consensus_stats(coded)
    gold = _gold_stats(coded, thresholds.likert_tolerance)
    seconds = pd.to_numeric(df["time_spent_s"], errors="coerce") if "time_spent_s" in df.columns else None
    fast = (
        (seconds < thresholds.min_seconds_per_item).groupby(df["rater_id"].to_numpy()).sum() if seconds is not None else None
    )
    pool_median = float(rows["median_seconds"].median()) if rows["median_seconds"].notna().any() else None
    t = thresholds
    stats: dict[Any, RaterStats] = {}
    for rater, r in rows.iterrows():
        s = RaterStats(rater=pseudonymize(str(rater)), n=int(r["n"]))
        s.skip_rate = float(r["skips"] / r["n"]) if r["n"] else None
        s.position_n = int(r["ab"])
        s.position_bias = float(r["a"] / r["ab"]) if r["ab"] else None
        if r["timed"]:
            s.median_seconds = float(r["median_seconds"])
            s.fast_share = float(fast[rater] / r["timed"]) if fast is not None else None
        if rater in gold:
            k, n, gk = gold[rater]
            s.gold_n = n
            s.gold_accuracy = k / n
            s.gold_ci = list(wilson_interval(k, n)) if n else None
            s.gold_kappa = gk
        if rater in consensus:
            a = consensus[rater]
            s.consensus_n = int(a.n)
            s.agreement_with_consensus = float(a.credit / a.n) if a.n else None
            if a.kappa_n:
                s.consensus_kappa = float(a.kappa_weighted / a.kappa_n)
                s.consensus_below_chance_z = float(a.z_num / np.sqrt(a.z_var)) if np.isfinite(a.z_var) else None

        # reliability: chance-corrected evidence, shrunk towards the prior
        evidence = weight = 0.0
        if s.gold_kappa is not None:
            evidence += t.gold_weight * s.gold_n * min(max(s.gold_kappa, 0.0), 1.0)
            weight += t.gold_weight * s.gold_n
        if s.consensus_kappa is not None:
            evidence += s.consensus_n * min(max(s.consensus_kappa, 0.0), 1.0)
            weight += s.consensus_n
        k0 = float(t.min_rater_judgments)
        s.reliability = float((evidence + k0 * t.prior_reliability) / (weight + k0))

        if s.n < t.min_rater_judgments:
            s.status = "insufficient_data"
            stats[rater] = s
            continue
        reasons = s.reasons
        if s.gold_accuracy is not None and s.gold_n >= t.min_gold_judgments and s.gold_accuracy < t.min_gold_accuracy:
            reasons.append(
                f"low gold accuracy: {s.gold_accuracy:.2f} on {s.gold_n} gold judgments (minimum {t.min_gold_accuracy})"
            )
        if s.consensus_kappa is not None and s.consensus_n >= t.min_consensus_judgments:
            adversarial = (
                s.consensus_kappa < 0 and s.consensus_below_chance_z is not None and s.consensus_below_chance_z > norm.ppf(1 - t.adversarial_p)
            )
            if adversarial:
                reasons.append(
                    f"adversarial: disagrees with the other raters' consensus more than chance "
                    f"(kappa {s.consensus_kappa:.2f} over {s.consensus_n} judgments)"
                )
            elif s.consensus_kappa < t.min_consensus_kappa:
                reasons.append(
                    f"near-random agreement with the other raters' consensus "
                    f"(kappa {s.consensus_kappa:.2f} < {t.min_consensus_kappa} over {s.consensus_n} judgments)"
                )
        if s.position_bias is not None and s.position_n >= t.min_position_judgments:
            if s.position_bias > t.max_position_bias or s.position_bias < 1 - t.max_position_bias:
                reasons.append(
                    f"extreme position bias: chose `a` in {s.position_bias:.0%} of {s.position_n} a/b choices "
                    f"(allowed {1 - t.max_position_bias:.0%}..{t.max_position_bias:.0%})"
                )
        if s.median_seconds is not None:
            if s.median_seconds < t.min_seconds_per_item:
                reasons.append(
                    f"implausible speed: median {s.median_seconds:.1f} s per judgment (minimum {t.min_seconds_per_item} s)"
                )
            elif pool_median and s.median_seconds < t.relative_speed * pool_median:
                reasons.append(
                    f"implausible speed: median {s.median_seconds:.1f} s per judgment, under "
                    f"{t.relative_speed:.0%} of the raters' median {pool_median:.1f} s"
                )
        if reasons:
            s.flagged = True
            s.status = "flagged"
        stats[rater] = s
    return stats


def rater_report(df: pd.DataFrame, config: Config | None = None, **overrides: Any) -> dict[str, Any]:
    """``alignment-ci quality raters``: per-rater statistics, flags and reliability.

    Returns ``{"raters": {id: {n, gold_accuracy, agreement_with_consensus, reliability,
    flagged, reasons, status, gold_n, gold_ci, position_bias, skip_rate, median_seconds,
    fast_share, ...}}, "flagged": [ids], "insufficient_data": [ids]}`` with PII-looking ids
    pseudonymized. Thresholds come from ``config.quality``; keyword overrides win.
    """
    thresholds = RaterThresholds.from_config(config, **overrides)
    if len(df) == 0:
        return {"raters": {}, "flagged": [], "insufficient_data": []}
    stats = _rater_table(df, thresholds)
    raters = {s.rater: s.to_dict() for s in stats.values()}
    return {
        "raters": raters,
        "flagged": sorted(k for k, v in raters.items() if v["flagged"]),
        "insufficient_data": sorted(k for k, v in raters.items() if v["status"] == "insufficient_data"),
    }


def reliability_scores(df: pd.DataFrame, config: Config | None = None, **overrides: Any) -> dict[str, float]:
    """Reliability in [0, 1] per rater id as it appears in ``df`` (input to the weighted vote)."""
    thresholds = RaterThresholds.from_config(config, **overrides)
    if len(df) == 0:
        return {}
    return {str(rater): s.reliability for rater, s in _rater_table(df, thresholds).items()}
