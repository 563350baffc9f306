"""Inter-rater agreement per dimension: Krippendorff's alpha, Cohen's and Fleiss' kappa.

Every task type is first turned into *coded judgments*: one row per (unit, rater) with a
numeric value (NaN = missing):

- pairwise: the unit is the item; ``a`` = 1 < ``tie`` = 2 < ``b`` = 3 (the order used by
  the ordinal/interval levels and by weighted kappa); ``skip`` is missing data;
- likert: the unit is the item; the value is the rating;
- ranking: the induced pairwise preferences.  Each unordered pair of responses of an item
  is a unit (keyed by the two response texts, so raters shown the responses in different
  orders still line up); the value is 1 when the text that sorts first is ranked higher,
  3 otherwise.

Krippendorff's alpha follows Krippendorff (2011), "Computing Krippendorff's
Alpha-Reliability": from the units' value counts build the coincidence matrix
``o_ck = sum_u n_uc (n_uk - [c == k]) / (m_u - 1)`` over pairable units (m_u >= 2),
the expected matrix ``e_ck = (n_c n_k - [c == k] n_c) / (n - 1)`` and
``alpha = 1 - sum(o * delta) / sum(e * delta)`` with the level's difference function
``delta``.  It is computed from a bincount of the codes and matches the ``krippendorff``
package (the reference in the tests) to 1e-9.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from alignment_ci.config import Config, QualitySettings
from alignment_ci.errors import InputError
from .. import lazy

pd = lazy.module("pandas")

Level = Literal["nominal", "ordinal", "interval", "ratio"]
Weights = Literal["linear", "quadratic"]

LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")
WEIGHTS: tuple[str, ...] = ("linear", "quadratic")
DEFAULT_LEVELS: dict[str, str] = {"pairwise": "nominal", "likert": "ordinal", "ranking": "nominal"}
PAIRWISE_CODES: dict[str, float] = {"a": 1.0, "tie": 2.0, "b": 3.0}
PAIRWISE_LABELS: dict[float, str] = {v: k for k, v in PAIRWISE_CODES.items()}

# Columns of the coded-judgment table (see :func:`coded_judgments`).
CODED_COLUMNS = (
    "dimension", "task_type", "item_id", "unit", "rater_id", "value", "gold", "row",
    "group", "item_code", "rater_code",
)


# --------------------------------------------------------------------------- coding


def _map_strings(series: pd.Series, codes: dict[str, float]) -> np.ndarray:
    """Map a string column through ``codes`` (unknown and null -> NaN), via factorize.

    ``Series.map(dict)`` is ~10x slower on a million rows than factorizing first.
    """
    idx, uniques = pd.factorize(series, use_na_sentinel=True)
    lookup = np.array([codes.get(u, np.nan) for u in uniques] + [np.nan], dtype=float)
    return lookup[idx]  # the sentinel -1 picks the trailing NaN


def _float_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _gold_mask(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose gold value may be used: every row unless ``is_gold`` is explicitly False."""
    if "is_gold" not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    flag = frame["is_gold"]
    return ~(flag.notna().to_numpy() & (flag.astype(object) == False).to_numpy())  # noqa: E712


def _require(frame: pd.DataFrame, columns: tuple[str, ...], task_type: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{task_type} judgments need column(s) {', '.join(missing)}; "
            "check the batch against the data contract (alignment-ci validate FILE)"
        )


def _ranking_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    """Induced pairwise preferences of ranking rows (one row per pair of responses)."""
    _require(frame, ("responses", "ranking"), "ranking")
    has_gold = "gold_ranking" in frame.columns
    gold_ok = _gold_mask(frame)
    out: list[pd.DataFrame] = []
    lengths = frame["responses"].map(lambda r: -1 if r is None or not hasattr(r, "__len__") else len(r))
    for k in sorted(set(lengths.to_numpy().tolist()) - {-1}):
        if k < 2:
            continue
        sel = np.flatnonzero(lengths.to_numpy() == k)
        sub = frame.iloc[sel]
        texts = np.array([list(r) for r in sub["responses"]], dtype=object).reshape(len(sub), k)

        def positions(column: str, sub: pd.DataFrame = sub, sel: np.ndarray = sel) -> np.ndarray:
            """rank position of each response index (k = missing / not a permutation)."""
            pos = np.full((len(sub), k), k, dtype=np.int64)
            vals = sub[column].to_list()
            ok = np.array([v is not None and hasattr(v, "__len__") and len(v) == k for v in vals], dtype=bool)
            if ok.any():
                ranks = np.array([list(v) for v, good in zip(vals, ok) if good], dtype=np.int64).reshape(-1, k)
                perm = (np.sort(ranks, axis=1) == np.arange(k)).all(axis=1)
                if column == "ranking" and not perm.all():
                    bad = sub.iloc[np.flatnonzero(ok)[~perm][0]]
                    raise InputError(
                        f"item {bad['item_id']!r}, rater {bad['rater_id']!r}: ranking {ranks[~perm][0].tolist()} "
                        f"is not a permutation of 0..{k - 1}; fix the row (alignment-ci validate FILE shows its line)"
                    )
                rows = np.flatnonzero(ok)[perm]
                inv = np.empty_like(ranks[perm])
                np.put_along_axis(inv, ranks[perm], np.arange(k)[None, :].repeat(perm.sum(), axis=0), axis=1)
                pos[rows] = inv
            return pos

        pos = positions("ranking")
        gpos = positions("gold_ranking") if has_gold else np.full((len(sub), k), k, dtype=np.int64)
        ii, jj = np.triu_indices(k, 1)
        ti, tj = texts[:, ii], texts[:, jj]
        first_is_i = ti <= tj  # orient each pair by text so shuffled displays line up
        lo = np.where(first_is_i, ti, tj)
        hi = np.where(first_is_i, tj, ti)
        pi, pj = pos[:, ii], pos[:, jj]
        gi, gj = gpos[:, ii], gpos[:, jj]
        missing = (pi == k) | (pj == k)
        gmissing = (gi == k) | (gj == k) | ~gold_ok[sel][:, None]
        # value 1 = the text sorting first is preferred ('a'), 3 = the other ('b')
        value = np.where((pi < pj) == first_is_i, 1.0, 3.0)
        gold = np.where((gi < gj) == first_is_i, 1.0, 3.0)
        value[missing] = np.nan
        gold[gmissing] = np.nan
        n_pairs = len(ii)
        out.append(
            pd.DataFrame(
                {
                    "row": np.repeat(sel, n_pairs),
                    "lo": lo.ravel(),
                    "hi": hi.ravel(),
                    "value": value.ravel(),
                    "gold": gold.ravel(),
                }
            )
        )
    if not out:
        return pd.DataFrame({"row": np.array([], dtype=np.int64), "lo": [], "hi": [], "value": [], "gold": []})
    return pd.concat(out, ignore_index=True)


def coded_judgments(df: pd.DataFrame) -> pd.DataFrame:
    """Turn canonical label rows into coded judgments, one per (unit, rater).

    Columns: ``dimension``, ``task_type``, ``item_id``, ``unit`` (int code, unique per
    dimension, item and, for rankings, response pair), ``rater_id``, ``value`` (float,
    NaN = missing or skip), ``gold`` (float, NaN = no gold answer), ``row`` (position of
    the source row in ``df``, to join time, dates or text back), and integer codes
    ``group`` (one per dimension and task type), ``item_code`` and ``rater_code``.
    """
    _require(df, ("item_id", "rater_id", "dimension", "task_type"), "label")
    df = df.reset_index(drop=True)
    parts: list[pd.DataFrame] = []
    task, task_names = pd.factorize(df["task_type"])
    for t, task_type in enumerate(task_names):
        rows = np.flatnonzero(task == t)
        frame = df.iloc[rows] if len(rows) != len(df) else df
        if task_type == "pairwise":
            _require(frame, ("choice",), "pairwise")
            value = _map_strings(frame["choice"], PAIRWISE_CODES)
            gold = _map_strings(frame["gold_choice"], PAIRWISE_CODES) if "gold_choice" in frame else np.full(len(frame), np.nan)
            part = pd.DataFrame({"row": rows, "value": value, "gold": gold})
            part["pair"] = 0
        elif task_type == "likert":
            _require(frame, ("rating",), "likert")
            part = pd.DataFrame({"row": rows, "value": _float_column(frame, "rating"), "gold": _float_column(frame, "gold_rating")})
            part["pair"] = 0
        elif task_type == "ranking":
            pairs = _ranking_pairs(frame)
            pair_code = pd.MultiIndex.from_arrays([pairs["lo"], pairs["hi"]]).factorize()[0] if len(pairs) else np.array([], dtype=np.int64)
            part = pd.DataFrame(
                {"row": rows[pairs["row"].to_numpy()], "value": pairs["value"].to_numpy(), "gold": pairs["gold"].to_numpy()}
            )
            part["pair"] = pair_code + 1
        else:
            raise InputError(
                f"unknown task_type {task_type!r}; expected one of pairwise, likert, ranking (see the data contract)"
            )
        if task_type != "ranking":
            part.loc[~_gold_mask(frame), "gold"] = np.nan
        part["task_type"] = task_type
        parts.append(part)
    coded = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    row = coded["row"].to_numpy()
    identity = len(row) == len(df) and bool((row == np.arange(len(df))).all())
    for column in ("dimension", "item_id", "rater_id"):
        # taking from the (Arrow-backed) array avoids a round trip through Python objects
        coded[column] = (df[column].array if identity else df[column].array.take(row))
    if identity:  # factorize the source columns once, not the coded copies
        dim_code, dims = pd.factorize(df["dimension"])
        item_code, items = pd.factorize(df["item_id"])
        rater_code, _ = pd.factorize(df["rater_id"])
        task_code = task
    else:
        dim_code, dims = pd.factorize(coded["dimension"])
        item_code, items = pd.factorize(coded["item_id"])
        rater_code, _ = pd.factorize(coded["rater_id"])
        task_code, _ = pd.factorize(coded["task_type"])
    pair = coded["pair"].to_numpy(dtype=np.int64)
    group = task_code.astype(np.int64) * (len(dims) + 1) + dim_code
    key = (group * (len(items) + 1) + item_code) * (int(pair.max(initial=0)) + 1) + pair
    coded["unit"] = pd.factorize(key)[0]
    coded["group"] = pd.factorize(group)[0]  # one code per (dimension, task_type)
    coded["item_code"] = item_code
    coded["rater_code"] = rater_code
    return coded[list(CODED_COLUMNS)]


# --------------------------------------------------------------------------- alpha


def _code_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes 0..V-1 of non-missing ``values`` and the sorted domain of observed values.

    Integer-valued data on a small range (ratings, choice codes) is coded by subtraction
    instead of a sort; anything else by ``searchsorted`` into the sorted unique values.
    """
    if len(values) == 0:
        return np.array([], dtype=np.int64), np.array([], dtype=float)
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 4096 and lo == np.floor(lo) and np.array_equal(values, np.floor(values)):
        codes = (values - lo).astype(np.int64)
        seen = np.bincount(codes, minlength=int(hi - lo) + 1) > 0
        if seen.all():
            return codes, np.arange(lo, hi + 1)
        remap = np.cumsum(seen) - 1
        return remap[codes], (np.flatnonzero(seen) + lo).astype(float)
    domain = np.sort(pd.unique(values))
    return np.searchsorted(domain, values), domain


def value_counts_matrix(units: np.ndarray, values: np.ndarray, domain: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Value counts (n_units x n_values) and the sorted value domain, by one bincount.

    ``units`` are integer codes 0..N-1; NaN values are missing and not counted (their units
    still get a row of zeros). Without ``domain`` it is the sorted set of observed values.
    """
    units = np.asarray(units, dtype=np.int64)
    values = np.asarray(values, dtype=float)
    n_units = int(units.max()) + 1 if len(units) else 0
    present = ~np.isnan(values)
    if domain is None:
        codes, domain = _code_values(values[present])
    else:
        domain = np.asarray(domain, dtype=float)
        codes = np.searchsorted(domain, values[present])
        if len(codes) and (codes.max() >= len(domain) or not np.array_equal(domain[codes], values[present])):
            raise InputError("the judgments contain values outside the given value domain")
    counts = np.bincount(units[present] * len(domain) + codes, minlength=n_units * len(domain))
    return counts.reshape(n_units, len(domain)), domain


def _pairable_coincidences(value_counts: np.ndarray) -> np.ndarray:
    """Per-unit coincidence weights n_uc / (m_u - 1) (zero rows for unpairable units)."""
    m = value_counts.sum(axis=1)
    scale = np.zeros(len(m))
    np.divide(1.0, m - 1, out=scale, where=m >= 2)
    return value_counts * scale[:, None]


def _delta(domain: np.ndarray, n_v: np.ndarray, level: str) -> np.ndarray:
    """Squared difference function delta^2_ck of Krippendorff (2011) for each level.

    ``n_v`` may carry leading batch dimensions (bootstrap); the result is (..., V, V).
    """
    c = domain[:, None]
    k = domain[None, :]
    if level == "nominal":
        return (c != k).astype(float)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        s = c + k
        return np.divide((c - k) ** 2, s**2, out=np.zeros((len(domain), len(domain))), where=s != 0)
    if level == "ordinal":
        # (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2
        cum = np.cumsum(n_v, axis=-1)
        before = cum - n_v
        lo = np.minimum(np.arange(len(domain))[:, None], np.arange(len(domain))[None, :])
        hi = np.maximum(np.arange(len(domain))[:, None], np.arange(len(domain))[None, :])
        between = cum[..., hi] - before[..., lo]
        return (between - (n_v[..., :, None] + n_v[..., None, :]) / 2) ** 2
    raise InputError(f"unknown level of measurement {level!r}; use one of {', '.join(LEVELS)}")


def _alpha_from_coincidences(o: np.ndarray, domain: np.ndarray, level: str) -> np.ndarray:
    """alpha for one coincidence matrix (V, V) or a batch (B, V, V); NaN where undefined."""
    n_v = o.sum(axis=-2)
    n = n_v.sum(axis=-1)
    e = (n_v[..., :, None] * n_v[..., None, :] - n_v[..., :, None] * np.eye(len(domain))) / np.maximum(n - 1, 1e-300)[..., None, None]
    d = _delta(domain, n_v, level)
    observed = (o * d).sum(axis=(-2, -1))
    expected = (e * d).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((expected > 0) & (n > 1), 1.0 - observed / expected, np.nan)


def alpha_from_value_counts(value_counts: np.ndarray, domain: np.ndarray | None = None, level: str = "nominal") -> float | None:
    """Krippendorff's alpha from unit value counts (Krippendorff 2011).

    Same input and result as ``krippendorff.alpha(value_counts=..., value_domain=...,
    level_of_measurement=level)``; ``None`` where alpha is undefined (fewer than two
    distinct values among pairable units, or no unit judged twice).
    """
    value_counts = np.asarray(value_counts, dtype=float)
    if domain is None:
        domain = np.arange(value_counts.shape[1], dtype=float)
    domain = np.asarray(domain, dtype=float)
    if level not in LEVELS:
        raise InputError(f"unknown level of measurement {level!r}; use one of {', '.join(LEVELS)}")
    w = _pairable_coincidences(value_counts)
    o = w.T @ value_counts - np.diag(w.sum(axis=0))
    a = float(_alpha_from_coincidences(o, domain, level))
    return None if np.isnan(a) else a


def alpha_from_reliability_data(reliability_data: np.ndarray, level: str = "nominal") -> float | None:
    """Krippendorff's alpha from a raters x units matrix with NaN for missing values.

    The same input as ``krippendorff.alpha(reliability_data=...)``; the value domain is
    the sorted set of observed values, as in that package.
    """
    data = np.asarray(reliability_data, dtype=float)
    flat = data.ravel()
    _, domain = _code_values(flat[~np.isnan(flat)])
    # one pass per value beats a bincount over units for a dense matrix
    counts = np.stack([(data == v).sum(axis=0) for v in domain], axis=1) if len(domain) else np.zeros((data.shape[1], 0))
    return alpha_from_value_counts(counts, domain, level)


def _unique_rows(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a non-negative count matrix and their frequencies.

    Rows are packed into one integer (base max+1) when that fits, which is an order of
    magnitude faster than ``np.unique(axis=0)``.
    """
    base = int(counts.max()) + 1
    if counts.shape[1] * np.log2(base) < 62:
        weights = base ** np.arange(counts.shape[1], dtype=np.int64)
        keys = counts.astype(np.int64) @ weights
        uniq, first, freq = np.unique(keys, return_index=True, return_counts=True)
        return counts[first], freq
    return np.unique(counts, axis=0, return_counts=True)


def alpha_bootstrap_ci(
    value_counts: np.ndarray,
    domain: np.ndarray,
    level: str = "nominal",
    n_samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval for alpha, resampling pairable units with replacement.

    Units with identical value counts contribute identically, so resampling N units is a
    multinomial draw over the distinct count patterns: the cost is independent of N.
    Seeded; ``None`` when fewer than two pairable units or no resample defines alpha.
    """
    value_counts = np.asarray(value_counts, dtype=float)
    pairable = value_counts[value_counts.sum(axis=1) >= 2]
    if len(pairable) < 2:
        return None
    patterns, freq = _unique_rows(pairable)
    w = _pairable_coincidences(patterns)
    v = len(domain)
    # per-pattern coincidence contributions, flattened to V*V
    contrib = (w[:, :, None] * patterns[:, None, :] - w[:, :, None] * np.eye(v)[None, :, :]).reshape(len(patterns), v * v)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(pairable), freq / freq.sum(), size=n_samples).astype(float)
    o = (draws @ contrib).reshape(n_samples, v, v)
    alphas = _alpha_from_coincidences(o, np.asarray(domain, dtype=float), level)
    alphas = alphas[~np.isnan(alphas)]
    if len(alphas) == 0:
        return None
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(alphas, [tail, 100 - tail])
    return float(lo), float(hi)


# --------------------------------------------------------------------------- kappas


def cohen_kappa(y1: np.ndarray, y2: np.ndarray, labels: np.ndarray, weights: str | None = None) -> float | None:
    """Cohen's (1960) kappa, or weighted kappa (Cohen 1968) with linear/quadratic weights.

    scikit-learn's ``cohen_kappa_score``; the weights use the label order of ``labels``.
    ``None`` when undefined (no variation).
    """
    from sklearn.metrics import cohen_kappa_score

    if len(y1) == 0 or len(np.unique(np.concatenate([y1, y2]))) < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined kappa is reported as None below
        k = cohen_kappa_score(y1, y2, labels=labels, weights=weights, replace_undefined_by=np.nan)
    return None if np.isnan(k) else float(k)


def fleiss_kappa(value_counts: np.ndarray) -> float | None:
    """Fleiss' (1971) kappa over an items x categories count table (statsmodels).

    Every row must hold the same number of ratings; ``None`` when undefined.
    """
    from statsmodels.stats.inter_rater import fleiss_kappa as _fleiss

    table = np.asarray(value_counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = float(_fleiss(table, method="fleiss"))
    return None if np.isnan(k) else k


def percent_agreement(value_counts: np.ndarray) -> float | None:
    """Share of agreeing ordered pairs of judgments within units:
    ``sum_u sum_c n_uc (n_uc - 1) / sum_u m_u (m_u - 1)`` over units judged at least twice."""
    vc = np.asarray(value_counts, dtype=float)
    m = vc.sum(axis=1)
    pairs = (m * (m - 1)).sum()
    if pairs == 0:
        return None
    return float((vc * (vc - 1)).sum() / pairs)


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class DimensionAgreement:
    """Agreement statistics of one dimension (a statistic that does not apply is None)."""

    dimension: str
    task_type: str
    level: str
    weights: str | None
    n_items: int
    n_units: int
    n_raters: int
    n_judgments: int
    n_pairable_units: int
    krippendorff_alpha: float | None
    alpha_ci: list[float] | None
    fleiss_kappa: float | None
    cohen_kappa: float | None
    percent_agreement: float | None
    verdict: str
    tier: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _n_distinct(codes: np.ndarray) -> int:
    """Number of distinct non-negative integer codes (a bincount: no sort, no hash)."""
    return int(np.count_nonzero(np.bincount(codes))) if len(codes) else 0


def _check_unique(coded: pd.DataFrame) -> None:
    raters = coded["rater_code"].to_numpy(dtype=np.int64)
    key = coded["unit"].to_numpy(dtype=np.int64) * (int(raters.max(initial=0)) + 1) + raters
    if len(key) and pd.Index(key).has_duplicates:
        dup = coded[pd.Series(key).duplicated().to_numpy()].iloc[0]
        raise InputError(
            f"item {dup['item_id']!r} is judged twice by rater {dup['rater_id']!r} in dimension "
            f"{dup['dimension']!r}; (item_id, rater_id, dimension) must be unique in a batch (see the data contract)"
        )


def dimension_agreement(
    coded: pd.DataFrame,
    *,
    level: str | None = None,
    weights: str | None = None,
    alpha_tentative: float = 0.667,
    alpha_reliable: float = 0.8,
    min_overlap_items: int = 20,
    bootstrap_samples: int = 1000,
    seed: int = 0,
) -> DimensionAgreement:
    """Agreement of one dimension's coded judgments (see :func:`coded_judgments`).

    Verdict: ``inconclusive`` when fewer than ``min_overlap_items`` units are judged at least
    twice or alpha is undefined; ``pass`` when alpha >= ``alpha_tentative`` (tier
    ``reliable`` from ``alpha_reliable``, Krippendorff's 0.667 / 0.8 conventions); ``fail``
    below.
    """
    task_types = pd.unique(coded["task_type"])
    task_type = str(task_types[0]) if len(task_types) else "pairwise"
    level = level or DEFAULT_LEVELS[task_type]
    if level not in LEVELS:
        raise InputError(f"unknown level of measurement {level!r}; use one of {', '.join(LEVELS)}")
    if weights is not None and weights not in WEIGHTS:
        raise InputError(f"unknown kappa weights {weights!r}; use linear or quadratic (or none)")
    dimension = str(coded["dimension"].iloc[0]) if len(coded) else ""
    value = coded["value"].to_numpy()
    present = ~np.isnan(value)
    unit_codes, _ = pd.factorize(coded["unit"].to_numpy()[present])
    rater_codes = coded["rater_code"].to_numpy()
    raters = np.flatnonzero(np.bincount(rater_codes))
    counts, domain = value_counts_matrix(unit_codes, value[present])
    m = counts.sum(axis=1)
    n_pairable = int((m >= 2).sum())

    alpha = ci = None
    if n_pairable and len(domain) >= 2:
        alpha = alpha_from_value_counts(counts, domain, level)
        if alpha is not None and bootstrap_samples > 0:
            ci_tuple = alpha_bootstrap_ci(counts, domain, level, n_samples=bootstrap_samples, seed=seed)
            ci = list(ci_tuple) if ci_tuple else None

    fleiss = None
    if len(m) and m.min() >= 2 and (m == m[0]).all() and len(domain) >= 2:
        fleiss = fleiss_kappa(counts)

    cohen = None
    if len(raters) == 2:
        wide = np.full((2, len(counts)), np.nan)
        wide[(rater_codes[present] == raters[1]).astype(int), unit_codes] = value[present]
        both = ~np.isnan(wide).any(axis=0)
        if both.any():
            cohen = cohen_kappa(wide[0, both], wide[1, both], domain, weights)

    if n_pairable < min_overlap_items:
        verdict, tier = "inconclusive", None
        reason = f"only {n_pairable} unit(s) judged by two or more raters; at least {min_overlap_items} are needed"
    elif alpha is None:
        verdict, tier = "inconclusive", None
        reason = "alpha is undefined: the judgments show fewer than two distinct values"
    elif alpha >= alpha_reliable:
        verdict, tier, reason = "pass", "reliable", f"alpha {alpha:.3f} >= {alpha_reliable} (reliable)"
    elif alpha >= alpha_tentative:
        verdict, tier, reason = "pass", "tentative", f"alpha {alpha:.3f} >= {alpha_tentative} (tentative conclusions only)"
    else:
        verdict, tier, reason = "fail", "unreliable", f"alpha {alpha:.3f} < {alpha_tentative}"

    return DimensionAgreement(
        dimension=dimension,
        task_type=task_type,
        level=level,
        weights=weights,
        n_items=_n_distinct(coded["item_code"].to_numpy()),
        n_units=_n_distinct(coded["unit"].to_numpy()),
        n_raters=len(raters),
        n_judgments=int(present.sum()) if task_type != "ranking" else _n_distinct(coded["row"].to_numpy()[present]),
        n_pairable_units=n_pairable,
        krippendorff_alpha=alpha,
        alpha_ci=ci,
        fleiss_kappa=fleiss,
        cohen_kappa=cohen,
        percent_agreement=percent_agreement(counts),
        verdict=verdict,
        tier=tier,
        reason=reason,
    )


def agreement_report(
    df: pd.DataFrame,
    config: Config | None = None,
    level: str | None = None,
    weights: str | None = None,
    *,
    bootstrap_samples: int | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """``alignment-ci quality agreement``: per-dimension agreement of canonical label rows.

    Returns ``{"dimensions": {dimension: {level, n_items, n_raters, n_judgments,
    krippendorff_alpha, alpha_ci, fleiss_kappa, cohen_kappa, percent_agreement, verdict,
    ...}}, "verdict": overall}``. ``level`` overrides the per-task default (nominal for
    pairwise and ranking, ordinal for likert); ``weights`` applies to Cohen's kappa.
    Thresholds come from ``config.quality``. A dimension judged in several task types is
    keyed ``dimension/task_type``. ``bootstrap_samples=0`` skips the interval.
    """
    q = config.quality if config is not None else QualitySettings()
    opts = dict(
        alpha_tentative=q.alpha_tentative,
        alpha_reliable=q.alpha_reliable,
        min_overlap_items=q.min_overlap_items,
        bootstrap_samples=bootstrap_samples if bootstrap_samples is not None else q.bootstrap_samples,
        seed=seed if seed is not None else q.seed,
    )
    if level is not None and level not in LEVELS:
        raise InputError(f"unknown --level {level!r}; use one of {', '.join(LEVELS)}")
    if weights is not None and weights not in WEIGHTS:
        raise InputError(f"unknown --weights {weights!r}; use linear or quadratic")
    if len(df) == 0:
        return {"dimensions": {}, "verdict": "inconclusive"}
    coded = coded_judgments(df)
    _check_unique(coded)
    group = coded["group"].to_numpy()
    first = [int(np.argmax(group == g)) for g in range(int(group.max()) + 1)]
    names = [(str(coded["dimension"].iloc[i]), str(coded["task_type"].iloc[i])) for i in first]
    per_dim = pd.Series([d for d, _ in names]).value_counts()
    results = {}
    for g, (dim, task_type) in enumerate(names):
        sub = coded if len(names) == 1 else coded[group == g]
        key = dim if per_dim[dim] == 1 else f"{dim}/{task_type}"
        results[key] = dimension_agreement(sub, level=level, weights=weights, **opts).to_dict()
    dimensions = dict(sorted(results.items()))
    verdicts = {d["verdict"] for d in dimensions.values()}
    overall = "fail" if "fail" in verdicts else "inconclusive" if "inconclusive" in verdicts else "pass"
    return {"dimensions": dimensions, "verdict": overall}
