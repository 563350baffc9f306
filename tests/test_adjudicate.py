"""The adjudication list: disagreements on critical dimensions, with the competing judgments."""

from __future__ import annotations

import pandas as pd

from alignment_ci.config import Config
from alignment_ci.quality.adjudicate import adjudication_list

from .test_aggregate import likert, pairwise, ranking


def test_lists_disagreements_on_critical_dimensions_only() -> None:
    df = pairwise([
        ("i1", "r1", "a", "safety"), ("i1", "alice@example.com", "b", "safety"), ("i1", "r3", "skip", "safety"),
        ("i2", "r1", "a", "safety"), ("i2", "r2", "a", "safety"), ("i2", "r3", "skip", "safety"),  # agree
        ("i3", "r1", "a", "helpfulness"), ("i3", "r2", "b", "helpfulness"),  # not critical
        ("i4", "r1", "a", "factual_accuracy"), ("i4", "r2", "tie", "factual_accuracy"),
        ("i5", "r1", "b", "safety"),  # one judgment cannot disagree
    ])
    df["rationale"] = None
    df.loc[1, "rationale"] = "B refuses *politely* <script>"
    entries = adjudication_list(df, Config())
    assert [(e["item_id"], e["dimension"]) for e in entries] == [("i1", "safety"), ("i4", "factual_accuracy")]
    first = entries[0]
    assert first["reason"] == "disagreement"
    assert first["counts"] == {"a": 1, "b": 1}
    assert (first["prompt"], first["response_a"], first["response_b"]) == ("prompt i1", "A i1", "B i1")
    judgments = first["judgments"]
    assert [j["choice"] for j in judgments] == ["a", "b", "skip"]
    assert [j["line"] for j in judgments] == [1, 2, 3]
    assert judgments[1]["rater_id"].startswith("rater-")  # e-mail pseudonymised
    assert judgments[1]["rationale"] == "B refuses *politely* <script>"  # raw: this file is data
    assert "rationale" not in judgments[0]


def test_gold_items_with_an_answer_are_not_adjudicated() -> None:
    df = pairwise([("g", "r1", "a", "safety"), ("g", "r2", "b", "safety")], is_gold=True, gold_choice="a")
    assert adjudication_list(df, Config()) == []


def test_likert_tolerance_and_ranking_disagreement() -> None:
    df = likert([("i1", "r1", 4), ("i1", "r2", 5), ("i2", "r1", 1), ("i2", "r2", 4)])
    df["dimension"] = "safety"
    assert [e["item_id"] for e in adjudication_list(df, Config())] == ["i1", "i2"]
    assert [e["item_id"] for e in adjudication_list(df, Config(), likert_tolerance=1)] == ["i2"]
    rk = ranking([("x", "r1", [0, 1, 2]), ("x", "r2", [0, 2, 1]), ("y", "r1", [2, 1, 0]), ("y", "r2", [2, 1, 0])])
    rk["dimension"] = "factual_accuracy"
    entries = adjudication_list(rk, Config())
    assert [e["item_id"] for e in entries] == ["x"]
    assert entries[0]["counts"] == {"0>1>2": 1, "0>2>1": 1}
    assert entries[0]["responses"] == ["u", "v", "w"]


def test_critical_flag_comes_from_the_taxonomy() -> None:
    config = Config()
    for d in config.taxonomy.dimensions:
        d.critical = d.name == "helpfulness"
    df = pd.concat([
        pairwise([("i1", "r1", "a"), ("i1", "r2", "b")]),
        pairwise([("i2", "r1", "a", "safety"), ("i2", "r2", "b", "safety")]),
    ])
    assert [e["item_id"] for e in adjudication_list(df, config)] == ["i1"]
