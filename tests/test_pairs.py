"""Training pairs in TRL's preference format, with exclusions counted by reason."""

from __future__ import annotations


import pandas as pd
import pytest

from alignment_ci.config import Config
from alignment_ci.errors import InputError
from alignment_ci.quality.pairs import EXCLUSION_REASONS, training_pairs

from .test_aggregate import likert, pairwise, ranking

KEYS = {"prompt", "chosen", "rejected", "weight", "item_id", "dimension", "batch_id"}


def batch() -> pd.DataFrame:
    df = pairwise([
        ("i1", "r1", "a"), ("i1", "r2", "a"), ("i1", "r3", "a"),          # a, 1.0
        ("i2", "r1", "b"), ("i2", "r2", "b"), ("i2", "r3", "a"),          # b, 0.667
        ("i3", "r1", "a"), ("i3", "r2", "b"), ("i3", "r3", "tie"),        # draw -> tie
        ("i4", "r1", "skip"), ("i4", "r2", "skip"),                         # no judgment
        ("i5", "r1", "a"), ("i5", "r2", "b"), ("i5", "r3", "b"), ("i5", "r4", "tie"), ("i5", "r5", "a"),  # draw -> tie
        ("i6", "r1", "tie"), ("i6", "r2", "tie"),                           # tie
        ("i7", "r1", "a"), ("i7", "r2", "a"), ("i7", "r3", "b"), ("i7", "r4", "b"), ("i7", "r5", "a"),  # a, 0.6
    ])
    gold = pairwise([("g1", "r1", "a"), ("g1", "r2", "a")], is_gold=True, gold_choice="a")
    return pd.concat([df, gold], ignore_index=True)


def test_pairs_orient_chosen_and_rejected_and_carry_lineage() -> None:
    pairs, excluded = training_pairs(batch(), "majority", Config(), min_confidence=0.6)
    assert [p["item_id"] for p in pairs] == ["i1", "i2", "i7"]
    assert all(set(p) == KEYS for p in pairs)
    assert pairs[0] == {"prompt": "prompt i1", "chosen": "A i1", "rejected": "B i1", "weight": 1.0,
                        "item_id": "i1", "dimension": "helpfulness", "batch_id": "b1"}
    assert (pairs[1]["chosen"], pairs[1]["rejected"]) == ("B i2", "A i2")
    assert pairs[1]["weight"] == pytest.approx(2 / 3)
    assert excluded == {"gold": 1, "no_judgment": 1, "tie": 3, "low_confidence": 0}


def test_threshold_defaults_to_config_and_excludes_low_confidence() -> None:
    config = Config()
    config.quality.pair_min_confidence = 0.7
    pairs, excluded = training_pairs(batch(), "majority", config)
    assert [p["item_id"] for p in pairs] == ["i1"]
    assert excluded["low_confidence"] == 2
    assert sum(excluded.values()) + len(pairs) == 8
    assert tuple(excluded) == EXCLUSION_REASONS


def test_gold_items_can_be_included() -> None:
    pairs, excluded = training_pairs(batch(), "dawid-skene", Config(), min_confidence=0.0, include_gold=True)
    assert "g1" in [p["item_id"] for p in pairs]
    assert excluded["gold"] == 0


def test_ranking_pairs_follow_the_borda_consensus_weighted_by_agreement() -> None:
    df = ranking([("x", "r1", [0, 1, 2]), ("x", "r2", [0, 2, 1]), ("x", "r3", [1, 0, 2])])
    pairs, excluded = training_pairs(df, "borda", Config(), min_confidence=0.7)
    got = [(p["chosen"], p["rejected"], round(p["weight"], 4)) for p in pairs]
    # u > v: 2 of 3 raters (below 0.7); u > w: 3 of 3; v > w: 2 of 3.
    assert got == [("u", "w", 1.0)]
    assert excluded == {"gold": 0, "no_judgment": 0, "tie": 0, "low_confidence": 2}


def test_likert_items_pair_by_rating_within_a_prompt() -> None:
    df = likert([("i1", "r1", 5), ("i1", "r2", 5), ("i2", "r1", 2), ("i2", "r2", 2), ("i3", "r1", 2), ("i3", "r2", 2)])
    pairs, excluded = training_pairs(df, "majority", Config())
    assert [(p["chosen"], p["rejected"], p["item_id"]) for p in pairs] == [
        ("resp i1", "resp i2", "i1"), ("resp i1", "resp i3", "i1")]
    assert excluded["tie"] == 1  # i2 and i3 are both rated 2


def test_bradley_terry_is_not_a_pair_method() -> None:
    with pytest.raises(InputError, match="scores entities, not items"):
        training_pairs(batch(), "bradley-terry", Config())
