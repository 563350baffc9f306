"""Bradley–Terry MLE: published values, choix as reference, and refusal when the MLE does not exist."""

from __future__ import annotations

import choix
import numpy as np
import pytest

from alignment_ci.errors import InputError
from alignment_ci.quality.bradley_terry import bradley_terry, pair_counts

# Agresti (2002), Categorical Data Analysis 2nd ed., §10.6, Table 10.10: 1987 American League
# East, as shipped in R's BradleyTerry2 (data/baseball.csv): home team, away team, home wins, away wins.
BASEBALL = [
    ("Milwaukee", "Detroit", 4, 3), ("Milwaukee", "Toronto", 4, 2), ("Milwaukee", "New York", 4, 3),
    ("Milwaukee", "Boston", 6, 1), ("Milwaukee", "Cleveland", 4, 2), ("Milwaukee", "Baltimore", 6, 0),
    ("Detroit", "Milwaukee", 3, 3), ("Detroit", "Toronto", 4, 2), ("Detroit", "New York", 4, 3),
    ("Detroit", "Boston", 6, 0), ("Detroit", "Cleveland", 6, 1), ("Detroit", "Baltimore", 4, 3),
    ("Toronto", "Milwaukee", 2, 5), ("Toronto", "Detroit", 4, 3), ("Toronto", "New York", 2, 4),
    ("Toronto", "Boston", 4, 3), ("Toronto", "Cleveland", 4, 2), ("Toronto", "Baltimore", 6, 0),
    ("New York", "Milwaukee", 3, 3), ("New York", "Detroit", 5, 1), ("New York", "Toronto", 2, 5),
    ("New York", "Boston", 4, 3), ("New York", "Cleveland", 4, 2), ("New York", "Baltimore", 6, 1),
    ("Boston", "Milwaukee", 5, 1), ("Boston", "Detroit", 2, 5), ("Boston", "Toronto", 3, 3),
    ("Boston", "New York", 4, 2), ("Boston", "Cleveland", 5, 2), ("Boston", "Baltimore", 6, 0),
    ("Cleveland", "Milwaukee", 2, 5), ("Cleveland", "Detroit", 3, 3), ("Cleveland", "Toronto", 3, 4),
    ("Cleveland", "New York", 4, 3), ("Cleveland", "Boston", 4, 2), ("Cleveland", "Baltimore", 2, 4),
    ("Baltimore", "Milwaukee", 2, 5), ("Baltimore", "Detroit", 1, 5), ("Baltimore", "Toronto", 1, 6),
    ("Baltimore", "New York", 2, 4), ("Baltimore", "Boston", 1, 6), ("Baltimore", "Cleveland", 3, 4),
]
TEAMS = sorted({h for h, *_ in BASEBALL})

# BradleyTerry2 tests/baseball.Rout.save (BTm fit by glm; Baltimore = 0), reproducing Agresti Table 10.11.
PUBLISHED_NO_ORDER = {"Boston": 1.1077, "Cleveland": 0.6839, "Detroit": 1.4364, "Milwaukee": 1.5814,
                      "New York": 1.2476, "Toronto": 1.2945}
PUBLISHED_HOME = {"Boston": 1.1438, "Cleveland": 0.7047, "Detroit": 1.4754, "Milwaukee": 1.6196,
                  "New York": 1.2813, "Toronto": 1.3271}
PUBLISHED_HOME_ADVANTAGE = 0.3023


def baseball_comparisons() -> tuple[list[int], list[int], list[bool]]:
    ix = {t: i for i, t in enumerate(TEAMS)}
    winners, losers, winner_home = [], [], []
    for home, away, home_wins, away_wins in BASEBALL:
        winners += [ix[home]] * home_wins + [ix[away]] * away_wins
        losers += [ix[away]] * home_wins + [ix[home]] * away_wins
        winner_home += [True] * home_wins + [False] * away_wins
    return winners, losers, winner_home


def relative_to_baltimore(strengths: np.ndarray) -> dict[str, float]:
    base = strengths[TEAMS.index("Baltimore")]
    return {t: float(strengths[i] - base) for i, t in enumerate(TEAMS) if t != "Baltimore"}


def test_baseball_matches_agresti_table_10_11_without_order_effect() -> None:
    w, lo, _ = baseball_comparisons()
    fit = bradley_terry(w, lo, len(TEAMS))
    assert fit.position_bias is None
    assert fit.n_comparisons == sum(h + a for *_, h, a in BASEBALL) == 273
    assert abs(fit.strengths.mean()) < 1e-12
    for team, value in relative_to_baltimore(fit.strengths).items():
        assert value == pytest.approx(PUBLISHED_NO_ORDER[team], abs=5e-5), team


def test_baseball_home_advantage_matches_published_0_3023() -> None:
    w, lo, home = baseball_comparisons()
    fit = bradley_terry(w, lo, len(TEAMS), position=home)
    assert fit.position_bias == pytest.approx(PUBLISHED_HOME_ADVANTAGE, abs=5e-5)
    for team, value in relative_to_baltimore(fit.strengths).items():
        assert value == pytest.approx(PUBLISHED_HOME[team], abs=5e-5), team
    # Agresti Table 10.11, column 5: abilities exp(θ) normalised to sum 1, rounded to 3 places.
    abilities = np.exp(fit.strengths) / np.exp(fit.strengths).sum()
    assert sorted(np.round(abilities, 3).tolist()) == [0.044, 0.088, 0.137, 0.157, 0.164, 0.190, 0.220]


def test_choix_pairwise_testcase_2_ml_estimate() -> None:
    # choix tests/data/testcase-pairwise-2.json: a 3-cycle with one repeated comparison;
    # ml_est is given as weights normalised to sum to 3.
    fit = bradley_terry([0, 0, 1, 2], [1, 1, 2, 0], 3)
    expected = np.log([1.43586088, 0.62035049, 0.94378863])
    np.testing.assert_allclose(fit.strengths, expected - expected.mean(), atol=1e-7)


def test_agrees_with_choix_ilsr_pairwise_to_1e_6() -> None:
    rng = np.random.default_rng(3)
    params = rng.normal(0, 1.0, 20)
    data = choix.generate_pairwise(params, 3000)
    winners = [d[0] for d in data]
    losers = [d[1] for d in data]
    ours = bradley_terry(winners, losers, 20).strengths
    reference = choix.ilsr_pairwise(20, data, alpha=0.0)
    np.testing.assert_allclose(ours, reference, atol=1e-6)


def test_tie_counts_as_half_a_win_each_way() -> None:
    # Two entities: the MLE is θ0 − θ1 = log(wins0 / wins1). 0 beat 1 twice, 1 beat 0 once, one tie:
    # 2.5 against 1.5 wins.
    fit = bradley_terry([0, 0, 1, 0, 1], [1, 1, 0, 1, 0], 2, weights=[1, 1, 1, 0.5, 0.5])
    assert fit.strengths[0] - fit.strengths[1] == pytest.approx(np.log(2.5 / 1.5), abs=1e-9)
    assert fit.n_comparisons == 4


def test_pair_counts_collapse_comparisons_per_ordered_pair() -> None:
    c = pair_counts([0, 0, 1, 2, 0], [1, 1, 0, 0, 1], 3, position=[True, False, True, True, True])
    got = {(int(f), int(s)): (float(a), float(b)) for f, s, a, b in zip(c.first, c.second, c.a, c.b)}
    # (first, second): wins by first, wins by second
    assert got == {(0, 1): (2.0, 0.0), (1, 0): (1.0, 1.0), (2, 0): (1.0, 0.0)}


def test_refuses_when_an_entity_never_loses() -> None:
    with pytest.raises(InputError, match=r"does not exist.*never lost: 'gpt'"):
        bradley_terry([0, 0, 1, 2], [1, 2, 2, 1], 3, labels=["gpt", "llama", "mistral"])


def test_refuses_disconnected_groups() -> None:
    with pytest.raises(InputError, match="splits into 2 groups"):
        bradley_terry([0, 1, 2, 3], [1, 0, 3, 2], 4)


def test_refuses_position_effect_when_order_never_varies() -> None:
    # Entity 0 is always shown first: θ0 − θ1 and γ are confounded.
    with pytest.raises(InputError, match="not identifiable"):
        bradley_terry([0, 1, 0], [1, 0, 1], 2, position=[True, False, True])


def test_refuses_position_effect_when_first_always_wins() -> None:
    with pytest.raises(InputError, match="first-shown response won every comparison"):
        bradley_terry([0, 1], [1, 0], 2, position=[True, True])


def test_sparse_path_for_many_entities_gives_the_dense_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import alignment_ci.quality.bradley_terry as bt

    rng = np.random.default_rng(8)
    params = rng.normal(0, 1.0, 30)
    data = choix.generate_pairwise(params, 2000)
    winners, losers = [d[0] for d in data], [d[1] for d in data]
    position = rng.random(len(data)) < 0.5
    dense = bradley_terry(winners, losers, 30, position)
    monkeypatch.setattr(bt, "_DENSE_MAX", 1)  # response-level fits have thousands of entities
    monkeypatch.setattr(bt, "_DENSE_COUNT_MAX", 1)
    sparse = bradley_terry(winners, losers, 30, position)
    np.testing.assert_allclose(sparse.strengths, dense.strengths, atol=1e-9)
    assert sparse.position_bias == pytest.approx(dense.position_bias, abs=1e-9)
