"""Agreement: published worked examples, the reference libraries, and invariants."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from alignment_ci.config import Config, QualitySettings
from alignment_ci.errors import InputError
from alignment_ci.quality.agreement import (
    LEVELS,
    agreement_report,
    alpha_bootstrap_ci,
    alpha_from_reliability_data,
    alpha_from_value_counts,
    coded_judgments,
    value_counts_matrix,
)

NAN = np.nan

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C/E: four
# observers, twelve units, values 1..5, missing data.
KRIPP_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]
KRIPP_2011_PUBLISHED = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}

# Fleiss (1971), Table 1 as transcribed in statsmodels' tests: 30 patients, 6 psychiatrists,
# 5 diagnoses. Published kappa 0.430.
FLEISS_1971 = np.array(
    [
        [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
        [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
        [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
        [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
        [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
        [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
    ]
)

# The Wikipedia "Fleiss' kappa" worked example (10 subjects, 14 raters, 5 categories),
# kappa 0.210; the count table of statsmodels' test_fleiss_kappa.
FLEISS_WIKIPEDIA = np.array(
    [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]
)

# A SAS worked example (statsmodels' TestUnweightedCohens / TestWeightedCohens): kappa
# 0.4842, linearly weighted kappa 0.4701.
SAS_TABLE = np.array([[0, 4, 1], [0, 8, 0], [0, 1, 5]])


def likert_rows(matrix, dimension: str = "helpfulness", raters=None, items=None) -> pd.DataFrame:
    """Canonical likert rows from a raters x units matrix (NaN = no judgment)."""
    m = np.asarray(matrix, dtype=float)
    raters = raters or [f"rater-{i}" for i in range(m.shape[0])]
    items = items or [f"item-{j}" for j in range(m.shape[1])]
    rows = [
        {
            "batch_id": "b1", "item_id": items[j], "rater_id": raters[i], "dimension": dimension,
            "task_type": "likert", "prompt": "p", "response": "r", "rating": int(m[i, j]),
        }
        for i in range(m.shape[0]) for j in range(m.shape[1]) if not np.isnan(m[i, j])
    ]
    return pd.DataFrame(rows)


def pairwise_rows(matrix, dimension: str = "helpfulness") -> pd.DataFrame:
    """Canonical pairwise rows from a raters x units matrix of choice strings (None = absent)."""
    rows = [
        {
            "batch_id": "b1", "item_id": f"item-{j}", "rater_id": f"rater-{i}", "dimension": dimension,
            "task_type": "pairwise", "prompt": "p", "response_a": "x", "response_b": "y", "choice": c,
        }
        for i, row in enumerate(matrix) for j, c in enumerate(row) if c is not None
    ]
    return pd.DataFrame(rows)


def fleiss_rows_from_counts(table: np.ndarray) -> pd.DataFrame:
    """Expand an items x categories count table into likert rows (categories 1..K)."""
    rows = []
    for item, counts in enumerate(table):
        ratings = np.repeat(np.arange(1, table.shape[1] + 1), counts)
        for k, r in enumerate(ratings):
            rows.append({"batch_id": "b", "item_id": f"s{item}", "rater_id": f"slot{k}", "dimension": "helpfulness",
                         "task_type": "likert", "prompt": "p", "response": "r", "rating": int(r)})
    return pd.DataFrame(rows)


def report_for(df: pd.DataFrame, **kw) -> dict:
    return agreement_report(df, Config(), bootstrap_samples=kw.pop("bootstrap_samples", 50), **kw)["dimensions"]


# --------------------------------------------------------------------------- published values


@pytest.mark.parametrize("level", LEVELS)
def test_krippendorff_2011_example_gives_published_alpha(level):
    dim = report_for(likert_rows(KRIPP_2011), level=level)["helpfulness"]
    assert round(dim["krippendorff_alpha"], 3) == KRIPP_2011_PUBLISHED[level]
    reference = krippendorff.alpha(reliability_data=KRIPP_2011, level_of_measurement=level)
    assert dim["krippendorff_alpha"] == pytest.approx(reference, abs=1e-9)
    assert dim["level"] == level
    assert (dim["n_items"], dim["n_raters"], dim["n_judgments"]) == (12, 4, 41)


def test_krippendorff_2011_binary_two_observers_alpha_0_095_and_cohen():
    # Krippendorff (2011) section A: binary data, two observers, no missing data.
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    choices = [["a" if v == 0 else "b" for v in row] for row in (a, b)]
    dim = report_for(pairwise_rows(choices))["helpfulness"]
    assert round(dim["krippendorff_alpha"], 3) == 0.095
    assert dim["cohen_kappa"] == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    table = np.array([[(np.array([x, y]) == 0).sum(), (np.array([x, y]) == 1).sum()] for x, y in zip(a, b)])
    assert dim["fleiss_kappa"] == pytest.approx(sm_fleiss_kappa(table), abs=1e-12)
    assert dim["percent_agreement"] == pytest.approx(0.6)


def test_fleiss_1971_diagnoses_kappa_0_430():
    dim = report_for(likert_rows(FLEISS_1971.T), level="nominal")["helpfulness"]
    assert round(dim["fleiss_kappa"], 3) == 0.430
    assert dim["cohen_kappa"] is None  # six raters


def test_fleiss_wikipedia_example_kappa_0_210():
    dim = report_for(fleiss_rows_from_counts(FLEISS_WIKIPEDIA), level="nominal")["helpfulness"]
    assert round(dim["fleiss_kappa"], 3) == 0.210


def test_fleiss_is_null_when_items_have_different_numbers_of_ratings():
    dim = report_for(likert_rows(KRIPP_2011))["helpfulness"]
    assert dim["fleiss_kappa"] is None
    assert dim["cohen_kappa"] is None


def _two_raters_from_table(table: np.ndarray) -> pd.DataFrame:
    pairs = [(i + 1, j + 1) for i in range(3) for j in range(3) for _ in range(table[i, j])]
    return likert_rows(np.array(pairs, dtype=float).T)


@pytest.mark.parametrize(
    ("weights", "published"),
    [(None, 0.4842), ("linear", 0.4701)],
)
def test_cohen_kappa_sas_example(weights, published):
    dim = report_for(_two_raters_from_table(SAS_TABLE), weights=weights)["helpfulness"]
    assert round(dim["cohen_kappa"], 4) == published
    assert dim["weights"] == weights


def test_cohen_quadratic_weights_match_statsmodels():
    dim = report_for(_two_raters_from_table(SAS_TABLE), weights="quadratic")["helpfulness"]
    reference = sm_cohens_kappa(SAS_TABLE, wt="quadratic", return_results=False)
    assert dim["cohen_kappa"] == pytest.approx(reference, abs=1e-9)


def test_cohen_textbook_two_by_two_kappa_0_4():
    # 50 proposals, two readers: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> kappa 0.4.
    r1 = ["a"] * 25 + ["b"] * 25
    r2 = ["a"] * 20 + ["b"] * 5 + ["a"] * 10 + ["b"] * 15
    dim = report_for(pairwise_rows([r1, r2]))["helpfulness"]
    assert dim["cohen_kappa"] == pytest.approx(0.4, abs=1e-12)


# --------------------------------------------------------------------------- the reference library


def test_alpha_matches_krippendorff_package_on_random_data():
    rng = np.random.default_rng(7)
    for _ in range(60):
        m, n, v = rng.integers(2, 6), rng.integers(3, 40), rng.integers(2, 7)
        data = rng.integers(1, v + 1, (m, n)).astype(float)
        data[rng.random((m, n)) < 0.35] = NAN
        for level in LEVELS:
            try:
                reference = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
            except ValueError:  # fewer than two values, or no unit coded twice
                reference = NAN
            ours = alpha_from_reliability_data(data, level)
            if np.isnan(reference):
                assert ours is None
            else:
                assert ours == pytest.approx(reference, abs=1e-9)


def test_alpha_from_value_counts_matches_package_value_counts_input():
    counts = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [0, 2, 0, 0], [2, 0, 0, 0], [0, 0, 2, 0], [0, 0, 2, 1],
                       [0, 0, 0, 3], [1, 0, 1, 0], [0, 2, 0, 0], [2, 0, 0, 0], [2, 0, 0, 0], [0, 0, 2, 0],
                       [0, 0, 2, 0], [0, 0, 0, 0], [0, 0, 1, 1]])
    # The package's own doctest value for this table.
    assert round(alpha_from_value_counts(counts, level="nominal"), 6) == 0.691358
    for level in LEVELS:
        ref = krippendorff.alpha(value_counts=counts, value_domain=[1, 2, 3, 4], level_of_measurement=level)
        assert alpha_from_value_counts(counts, np.array([1.0, 2, 3, 4]), level) == pytest.approx(ref, abs=1e-9)


def test_value_counts_matrix_codes_sparse_domains():
    counts, domain = value_counts_matrix(np.array([0, 0, 1, 2, 2]), np.array([1.0, 5.0, NAN, 5.0, 2.5]))
    assert domain.tolist() == [1.0, 2.5, 5.0]
    assert counts.tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 1]]


# --------------------------------------------------------------------------- task types


def test_pairwise_skip_is_missing_data():
    with_skip = [["a", "b", "a", "tie", "skip"], ["a", "b", "b", "tie", "a"], ["skip", "b", "a", "tie", "a"]]
    without = [[c if c != "skip" else None for c in row] for row in with_skip]
    codes = {"a": 1, "tie": 2, "b": 3, None: NAN}
    matrix = [[codes[c] for c in row] for row in without]
    dim_skip = report_for(pairwise_rows(with_skip))["helpfulness"]
    dim_none = report_for(pairwise_rows(without))["helpfulness"]
    assert dim_skip["krippendorff_alpha"] == dim_none["krippendorff_alpha"]
    assert dim_skip["krippendorff_alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"), abs=1e-12
    )
    assert dim_skip["n_judgments"] == 13


def test_ranking_agreement_is_on_induced_pairwise_preferences():
    responses = ["r0", "r1", "r2"]
    rankings = {  # rater -> item -> ranking (indices into responses, best first)
        "u1": {"i1": [0, 1, 2], "i2": [2, 1, 0]},
        "u2": {"i1": [0, 2, 1], "i2": [2, 1, 0]},
        "u3": {"i1": [1, 0, 2], "i2": [1, 2, 0]},
    }
    rows = [
        {"batch_id": "b", "item_id": item, "rater_id": rater, "dimension": "helpfulness", "task_type": "ranking",
         "prompt": "p", "responses": responses, "ranking": ranking}
        for rater, items in rankings.items() for item, ranking in items.items()
    ]
    df = pd.DataFrame(rows)

    def prefs(ranking):  # pairs (0,1), (0,2), (1,2): 1 if the lower index is ranked higher
        pos = {r: k for k, r in enumerate(ranking)}
        return [1 if pos[i] < pos[j] else 3 for i, j in ((0, 1), (0, 2), (1, 2))]

    matrix = [prefs(items["i1"]) + prefs(items["i2"]) for items in rankings.values()]
    dim = report_for(df)["helpfulness"]
    assert dim["task_type"] == "ranking"
    assert dim["n_units"] == 6 and dim["n_items"] == 2 and dim["n_judgments"] == 6
    assert dim["krippendorff_alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"), abs=1e-12
    )

    # A rater shown the responses in another order, ranking the same texts the same way,
    # gives the same units and values.
    shuffled = df.copy()
    first = (shuffled["rater_id"] == "u1") & (shuffled["item_id"] == "i1")
    idx = shuffled.index[first][0]
    shuffled.at[idx, "responses"] = ["r2", "r0", "r1"]
    shuffled.at[idx, "ranking"] = [1, 2, 0]  # r0, r1, r2 as before
    assert report_for(shuffled)["helpfulness"]["krippendorff_alpha"] == dim["krippendorff_alpha"]


def test_ranking_that_is_not_a_permutation_is_an_input_error():
    df = pd.DataFrame([{"batch_id": "b", "item_id": "i1", "rater_id": "u1", "dimension": "helpfulness",
                        "task_type": "ranking", "prompt": "p", "responses": ["x", "y"], "ranking": [0, 0]}])
    with pytest.raises(InputError, match=r"item 'i1', rater 'u1': ranking \[0, 0\] is not a permutation"):
        coded_judgments(df)


def test_duplicate_item_rater_dimension_is_an_input_error():
    df = pairwise_rows([["a", "b"], ["a", "a"]])
    df = pd.concat([df, df.iloc[[0]]], ignore_index=True)
    with pytest.raises(InputError, match="item 'item-0' is judged twice by rater 'rater-0'"):
        agreement_report(df, Config())


def test_dimensions_are_reported_separately_with_contract_keys():
    help_ = likert_rows(KRIPP_2011, dimension="helpfulness")
    safe = pairwise_rows([["a", "a", "b", "b"], ["a", "a", "b", "a"]], dimension="safety")
    dims = report_for(pd.concat([help_, safe], ignore_index=True))
    assert sorted(dims) == ["helpfulness", "safety"]
    for key in ("level", "n_items", "n_raters", "n_judgments", "krippendorff_alpha", "fleiss_kappa",
                "cohen_kappa", "percent_agreement", "alpha_ci", "verdict", "weights"):
        assert key in dims["safety"] and key in dims["helpfulness"]
    assert dims["helpfulness"]["level"] == "ordinal" and dims["safety"]["level"] == "nominal"
    assert dims["helpfulness"]["krippendorff_alpha"] == pytest.approx(0.8153875037548814, abs=1e-12)
    assert dims["safety"]["cohen_kappa"] == pytest.approx(cohen_kappa_score([1, 1, 3, 3], [1, 1, 3, 1]))
    assert dims["safety"]["fleiss_kappa"] is not None


def test_unknown_level_and_weights_are_input_errors():
    df = likert_rows(KRIPP_2011)
    with pytest.raises(InputError, match="unknown --level 'cardinal'"):
        agreement_report(df, Config(), level="cardinal")
    with pytest.raises(InputError, match="unknown --weights 'cubic'"):
        agreement_report(df, Config(), weights="cubic")


# --------------------------------------------------------------------------- verdicts and bootstrap


def _simulated(n_items: int, accuracy: float, seed: int = 0, n_raters: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.choice(["a", "b"], n_items)
    noise = rng.choice(["a", "b", "tie"], (n_raters, n_items))
    choices = np.where(rng.random((n_raters, n_items)) < accuracy, truth, noise)
    return pairwise_rows(choices.tolist())


def test_verdicts_follow_configured_thresholds():
    config = Config(quality=QualitySettings(alpha_tentative=0.5, alpha_reliable=0.7, min_overlap_items=30))
    good = agreement_report(_simulated(200, 0.95), config, bootstrap_samples=50)["dimensions"]["helpfulness"]
    bad = agreement_report(_simulated(200, 0.3), config, bootstrap_samples=50)["dimensions"]["helpfulness"]
    few = agreement_report(_simulated(20, 0.95), config, bootstrap_samples=50)["dimensions"]["helpfulness"]
    assert good["krippendorff_alpha"] > 0.7 and (good["verdict"], good["tier"]) == ("pass", "reliable")
    assert bad["krippendorff_alpha"] < 0.5 and bad["verdict"] == "fail"
    assert few["verdict"] == "inconclusive" and "only 20 unit(s)" in few["reason"]


def test_alpha_undefined_without_variation_is_inconclusive():
    dim = report_for(pairwise_rows([["a"] * 30, ["a"] * 30]))["helpfulness"]
    assert dim["krippendorff_alpha"] is None and dim["alpha_ci"] is None
    assert dim["verdict"] == "inconclusive"
    assert dim["percent_agreement"] == 1.0


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_bootstrap_interval_is_seeded_and_matches_a_naive_item_bootstrap(level):
    df = _simulated(300, 0.7, seed=3)
    first = agreement_report(df, Config(), level, bootstrap_samples=400, seed=11)["dimensions"]["helpfulness"]
    again = agreement_report(df, Config(), level, bootstrap_samples=400, seed=11)["dimensions"]["helpfulness"]
    other = agreement_report(df, Config(), level, bootstrap_samples=400, seed=12)["dimensions"]["helpfulness"]
    assert first["alpha_ci"] == again["alpha_ci"] and first["alpha_ci"] != other["alpha_ci"]
    lo, hi = first["alpha_ci"]
    assert lo < first["krippendorff_alpha"] < hi

    # naive reference: resample items with replacement, recompute alpha with the package
    coded = coded_judgments(df)
    counts, domain = value_counts_matrix(coded["unit"].to_numpy(), coded["value"].to_numpy())
    rng = np.random.default_rng(0)
    naive = [
        krippendorff.alpha(
            value_counts=counts[rng.integers(0, len(counts), len(counts))], value_domain=domain, level_of_measurement=level
        )
        for _ in range(400)
    ]
    ref_lo, ref_hi = np.percentile(naive, [2.5, 97.5])
    assert lo == pytest.approx(ref_lo, abs=0.025) and hi == pytest.approx(ref_hi, abs=0.025)
    assert alpha_bootstrap_ci(counts, domain, level, n_samples=50, seed=1) == alpha_bootstrap_ci(
        counts, domain, level, n_samples=50, seed=1
    )


# --------------------------------------------------------------------------- properties


@st.composite
def perfect_agreement(draw):
    n_items = draw(st.integers(2, 15))
    n_raters = draw(st.integers(2, 5))
    truth = draw(st.lists(st.integers(1, 5), min_size=n_items, max_size=n_items).filter(lambda t: len(set(t)) >= 2))
    present = draw(st.lists(st.lists(st.booleans(), min_size=n_items, max_size=n_items), min_size=n_raters, max_size=n_raters))
    matrix = np.array([[t if p else NAN for t, p in zip(truth, row)] for row in present], dtype=float)
    # at least two units must each be judged by two raters with different true values
    pairable = (~np.isnan(matrix)).sum(axis=0) >= 2
    values = set(np.asarray(truth)[pairable].tolist())
    return matrix, len(values) >= 2


@settings(max_examples=60, deadline=None)
@given(perfect_agreement(), st.sampled_from(LEVELS))
def test_alpha_is_one_for_perfect_agreement(case, level):
    matrix, defined = case
    alpha = alpha_from_reliability_data(matrix, level)
    if defined:
        assert alpha == pytest.approx(1.0, abs=1e-12)
    else:
        assert alpha is None


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(LEVELS))
def test_alpha_is_invariant_to_relabelling_raters_and_items(seed, level):
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(2, 5)), int(rng.integers(4, 20))
    matrix = rng.integers(1, 4, (m, n)).astype(float)
    matrix[rng.random((m, n)) < 0.25] = NAN
    raters = [f"rater-{i}" for i in range(m)]
    items = [f"item-{j}" for j in range(n)]
    base = likert_rows(matrix, raters=raters, items=items)
    rater_map = dict(zip(raters, rng.permutation([f"x{i}@vendor.example" for i in range(m)])))
    item_map = dict(zip(items, rng.permutation([f"q{j}" for j in range(n)])))
    relabelled = base.assign(rater_id=base["rater_id"].map(rater_map), item_id=base["item_id"].map(item_map))
    relabelled = relabelled.sample(frac=1.0, random_state=int(rng.integers(0, 1000))).reset_index(drop=True)
    a = report_for(base, level=level, bootstrap_samples=20)["helpfulness"]
    b = report_for(relabelled, level=level, bootstrap_samples=20)["helpfulness"]
    for key in ("krippendorff_alpha", "fleiss_kappa", "percent_agreement"):
        if a[key] is None:
            assert b[key] is None
        else:
            assert b[key] == pytest.approx(a[key], abs=1e-12)
