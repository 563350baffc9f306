"""Aggregation of judgments: item methods, Bradley–Terry over a batch, and the planted-rater simulation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import MajorityVote

from alignment_ci.config import Config
from alignment_ci.errors import InputError
from alignment_ci.quality.aggregate import aggregate, response_id

from .test_bradley_terry import BASEBALL, PUBLISHED_HOME, PUBLISHED_HOME_ADVANTAGE


def pairwise(rows: list[tuple], **extra: object) -> pd.DataFrame:
    """Rows of (item_id, rater_id, choice[, dimension]) as a canonical pairwise frame."""
    out = []
    for line, row in enumerate(rows, start=1):
        item, rater, choice, *rest = row
        out.append(
            {
                "batch_id": "b1", "item_id": item, "rater_id": rater, "dimension": rest[0] if rest else "helpfulness",
                "task_type": "pairwise", "prompt": f"prompt {item}", "response_a": f"A {item}",
                "response_b": f"B {item}", "choice": choice, "line": line, **extra,
            }
        )
    return pd.DataFrame(out)


def test_majority_vote_choice_confidence_skips_and_draws() -> None:
    df = pairwise([
        ("i1", "r1", "a"), ("i1", "r2", "a"), ("i1", "r3", "b"),
        ("i2", "r1", "a"), ("i2", "r2", "b"), ("i2", "r3", "skip"),   # draw a:b -> tie
        ("i3", "r1", "skip"), ("i3", "r2", "skip"),                    # nothing to aggregate
        ("i4", "r1", "tie"), ("i4", "r2", "tie"), ("i4", "r3", "a"),    # tie wins outright
    ])
    out = aggregate(df, "majority")
    assert out["method"] == "majority"
    assert out["dimension"] == "helpfulness"
    assert out["items"] == {
        "i1": {"choice": "a", "confidence": pytest.approx(2 / 3)},
        "i2": {"choice": "tie", "confidence": 0.5},
        "i3": {"choice": None, "confidence": 0.0},
        "i4": {"choice": "tie", "confidence": pytest.approx(2 / 3)},
    }
    json.dumps(out, allow_nan=False)


def test_weighted_vote_matches_crowd_kit_majority_vote_with_skills() -> None:
    rng = np.random.default_rng(2)
    rows = [(f"i{i}", f"r{r}", str(rng.choice(["a", "b", "tie"])))
            for i in range(60) for r in rng.choice(8, 3, replace=False)]
    df = pairwise(rows)
    weights = {f"r{r}": float(w) for r, w in enumerate(rng.uniform(0.05, 1.0, 8))}
    out = aggregate(df, "weighted", weights=weights)["items"]
    data = pd.DataFrame(rows, columns=["task", "worker", "label"])
    ref = MajorityVote().fit_predict_proba(data, pd.Series(weights))
    for item, decision in out.items():
        assert decision["choice"] == ref.loc[item].idxmax()
        assert decision["confidence"] == pytest.approx(ref.loc[item].max(), abs=1e-12)


def test_weighted_vote_needs_a_weight_for_every_rater() -> None:
    df = pairwise([("i1", "r1", "a"), ("i1", "r2", "b")])
    with pytest.raises(InputError, match="needs a weight per rater"):
        aggregate(df, "weighted")
    with pytest.raises(InputError, match="no weight for 1 rater.*r2"):
        aggregate(df, "weighted", weights={"r1": 0.9})


def likert(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame([
        {"batch_id": "b1", "item_id": i, "rater_id": r, "dimension": "helpfulness", "task_type": "likert",
         "prompt": "same prompt", "response": f"resp {i}", "rating": rating}
        for i, r, rating in rows
    ])


def test_likert_majority_takes_the_mode_and_the_lower_rating_on_a_draw() -> None:
    df = likert([("i1", "r1", 4), ("i1", "r2", 4), ("i1", "r3", 2), ("i2", "r1", 5), ("i2", "r2", 3)])
    items = aggregate(df, "majority")["items"]
    assert items == {"i1": {"choice": 4, "confidence": pytest.approx(2 / 3)}, "i2": {"choice": 3, "confidence": 0.5}}


def ranking(rows: list[tuple], gold: list[int] | None = None) -> pd.DataFrame:
    out = []
    for item, rater, order in rows:
        row = {"batch_id": "b1", "item_id": item, "rater_id": rater, "dimension": "helpfulness",
               "task_type": "ranking", "prompt": "p", "responses": ["u", "v", "w"], "ranking": order}
        if gold is not None:
            row |= {"is_gold": True, "gold_ranking": gold}
        out.append(row)
    return pd.DataFrame(out)


RANKINGS = [("x", "r1", [0, 1, 2]), ("x", "r2", [0, 2, 1]), ("x", "r3", [1, 0, 2])]


def test_borda_consensus_and_agreement_confidence() -> None:
    out = aggregate(ranking(RANKINGS), "borda")
    # Points (2, 1, 0 per rank): u = 2+2+1 = 5, v = 1+0+2 = 3, w = 0+1+0 = 1.
    # Pairs agreeing with u > v > w: r1 3/3, r2 2/3, r3 2/3 -> 7/9.
    assert out["items"] == {"x": {"choice": [0, 1, 2], "confidence": pytest.approx(7 / 9)}}


def test_rankings_expand_to_pairwise_preferences() -> None:
    items = aggregate(ranking(RANKINGS), "majority")["items"]
    assert items == {
        "x#0-1": {"choice": "a", "confidence": pytest.approx(2 / 3)},
        "x#0-2": {"choice": "a", "confidence": 1.0},
        "x#1-2": {"choice": "a", "confidence": pytest.approx(2 / 3)},
    }


def test_dawid_skene_pins_gold_rankings() -> None:
    # Every rater ranks w first, but the gold answer says u > v > w.
    df = ranking([("x", "r1", [2, 1, 0]), ("x", "r2", [2, 0, 1])], gold=[0, 1, 2])
    items = aggregate(df, "dawid-skene")["items"]
    assert items["x#0-2"] == {"choice": "a", "confidence": 1.0}
    assert aggregate(df, "dawid-skene", gold_pinned=False)["items"]["x#0-2"]["choice"] == "b"


def baseball_batch() -> pd.DataFrame:
    """Agresti's baseball games as a pairwise batch: the home team is model_a, shown first."""
    rows = []
    for g, (home, away, home_wins, away_wins) in enumerate(BASEBALL):
        for k in range(home_wins + away_wins):
            rows.append({
                "batch_id": "mlb", "item_id": f"g{g}-{k}", "rater_id": "season-1987", "dimension": "helpfulness",
                "task_type": "pairwise", "prompt": "game", "response_a": home, "response_b": away,
                "model_a": home, "model_b": away, "choice": "a" if k < home_wins else "b",
            })
    return pd.DataFrame(rows)


def test_bradley_terry_over_models_with_position_effect_reproduces_agresti() -> None:
    out = aggregate(baseball_batch(), "bradley-terry", position_effect=True)
    assert out["method"] == "bradley-terry"
    assert out["entity"] == "model"
    assert out["position_bias"] == pytest.approx(PUBLISHED_HOME_ADVANTAGE, abs=5e-5)
    scores = out["scores"]
    assert sum(scores.values()) == pytest.approx(0.0, abs=1e-12)
    assert list(scores)[:2] == ["Milwaukee", "Detroit"]  # sorted strongest first
    for team, value in PUBLISHED_HOME.items():
        assert value == pytest.approx(scores[team] - scores["Baltimore"], abs=5e-5)
    assert aggregate(baseball_batch(), "bradley-terry")["position_bias"] is None


def test_bradley_terry_falls_back_to_response_ids_and_counts_ties_as_half() -> None:
    rows = [("i1", "r1", "a"), ("i1", "r2", "tie"), ("i1", "r3", "b"), ("i1", "r4", "skip"), ("i1", "r5", "a")]
    out = aggregate(pairwise(rows), "bradley-terry")
    assert out["entity"] == "response"
    # A: 2 wins + half a tie = 2.5; B: 1.5. Two entities: θA − θB = log(2.5 / 1.5).
    diff = out["scores"][response_id("A i1")] - out["scores"][response_id("B i1")]
    assert diff == pytest.approx(np.log(2.5 / 1.5), abs=1e-9)
    assert out["n_comparisons"] == 4


def test_bradley_terry_reports_the_dimension_when_the_mle_does_not_exist() -> None:
    df = pairwise([("i1", "r1", "a", "safety"), ("i1", "r2", "a", "safety")])
    with pytest.raises(InputError, match=r"dimension 'safety'.*never lost: 'r-"):
        aggregate(df, "bradley-terry")


def test_several_dimensions_keep_items_for_the_default_and_add_by_dimension() -> None:
    df = pairwise([("i1", "r1", "a", "safety"), ("i1", "r2", "b", "safety"), ("i1", "r1", "b"), ("i1", "r2", "b")])
    out = aggregate(df, "majority", config=Config())
    assert out["dimension"] == "helpfulness"
    assert out["items"] == {"i1": {"choice": "b", "confidence": 1.0}}
    assert out["by_dimension"]["safety"]["items"] == {"i1": {"choice": "tie", "confidence": 0.5}}


@pytest.mark.parametrize(
    ("frame", "method", "kwargs", "message"),
    [
        (lambda: pairwise([("i1", "r1", "a")]), "borda", {}, "borda aggregates rankings"),
        (lambda: likert([("i1", "r1", 3)]), "bradley-terry", {}, "bradley-terry needs comparisons"),
        (lambda: pairwise([("i1", "r1", "a")]), "majority", {"position_effect": True}, "bradley-terry only"),
        (lambda: pairwise([("i1", "r1", "a")]), "median", {}, "unknown aggregation method 'median'"),
        (lambda: pd.concat([pairwise([("i1", "r1", "a")]), likert([("i2", "r1", 3)])]), "majority", {}, "one task_type"),
        (lambda: ranking([("x", "r1", [0, 0, 2])]), "borda", {}, r"\[0, 0, 2\] is not a permutation"),
    ],
)
def test_unusable_requests_are_input_errors(frame, method, kwargs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=message):
        aggregate(frame(), method, **kwargs)


def simulated_batch(seed: int = 7, n_items: int = 400, per_item: int = 5) -> tuple[pd.DataFrame, dict[str, str]]:
    """Six good raters (85% right), three random, three adversarial (85% wrong); 10% gold items."""
    rng = np.random.default_rng(seed)
    raters = [(f"good{i}", "good") for i in range(6)] + [(f"rand{i}", "random") for i in range(3)] + [
        (f"adv{i}", "adversarial") for i in range(3)]
    truth = rng.choice(["a", "b"], n_items)
    gold = np.zeros(n_items, bool)
    gold[rng.choice(n_items, n_items // 10, replace=False)] = True
    rows = []
    for i in range(n_items):
        right, wrong = truth[i], "b" if truth[i] == "a" else "a"
        for r in rng.choice(len(raters), per_item, replace=False):
            rater, kind = raters[r]
            if kind == "good":
                choice = right if rng.random() < 0.85 else wrong
            elif kind == "random":
                choice = str(rng.choice(["a", "b"]))
            else:
                choice = wrong if rng.random() < 0.85 else right
            rows.append({
                "batch_id": "sim", "item_id": f"i{i:03d}", "rater_id": rater, "dimension": "helpfulness",
                "task_type": "pairwise", "prompt": f"p{i}", "response_a": f"A{i}", "response_b": f"B{i}",
                "choice": choice, "is_gold": bool(gold[i]), "gold_choice": right if gold[i] else None,
            })
    return pd.DataFrame(rows), {f"i{i:03d}": str(truth[i]) for i in range(n_items) if not gold[i]}


def test_dawid_skene_and_weighted_vote_beat_majority_with_planted_bad_raters() -> None:
    df, truth = simulated_batch()
    on_gold = df[df["is_gold"]]
    gold_accuracy = (on_gold["choice"] == on_gold["gold_choice"]).groupby(on_gold["rater_id"]).mean().to_dict()

    def accuracy(method: str, **kwargs: object) -> float:
        items = aggregate(df, method, **kwargs)["items"]
        return float(np.mean([items[k]["choice"] == v for k, v in truth.items()]))

    majority = accuracy("majority")
    weighted = accuracy("weighted", weights=gold_accuracy)
    dawid_skene = accuracy("dawid-skene")
    assert majority == pytest.approx(0.6278, abs=1e-4)  # seeded: the bad raters drag the plain vote down
    assert weighted >= majority + 0.15
    assert dawid_skene >= weighted + 0.1
    assert dawid_skene > 0.95
    gold_items = aggregate(df, "dawid-skene")["items"]
    assert all(gold_items[i]["confidence"] == 1.0 for i in df.loc[df["is_gold"], "item_id"])
