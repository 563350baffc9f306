"""The gate outcome rules (alignment_ci.gating.outcomes) as plain functions: no pytest
session runs here."""

from __future__ import annotations

import pytest

from alignment_ci.gating import Decision, GatesSettings, Inconclusive, NotApplicable
from alignment_ci.gating.outcomes import Attempt, GateSpec, classify, combine, gate_spec, single, to_results


def test_the_name_comes_from_the_marker_else_the_function():
    assert gate_spec("test_gold_accuracy", ("gold",)).name == "gold"
    assert gate_spec("test_gold_accuracy", (), {"name": "gold"}).name == "gold"
    assert gate_spec("test_gold_accuracy").name == "gold_accuracy"
    spec = gate_spec("test_safety[en]", ("safety",), param_id="en")
    assert (spec.name, spec.base_name) == ("safety[en]", "safety")


def test_a_name_listed_as_shadow_does_not_block():
    settings = GatesSettings(shadow=["safety"])
    assert gate_spec("t", ("safety",), param_id="en", settings=settings).blocking is False
    assert gate_spec("t", ("gold",), settings=settings).blocking is True
    assert gate_spec("t", ("gold",), {"blocking": False}).blocking is False


def test_repeat_and_min_pass_defaults():
    assert gate_spec("t", ("g",), {"repeat": 3}) == GateSpec("g", True, 3, 3)
    assert gate_spec("t", ("g",), {"repeat": 3, "min_pass": 2}) == GateSpec("g", True, 3, 2)
    # settings give the default repeat and min_pass when the marker sets neither
    assert gate_spec("t", ("g",), settings=GatesSettings(repeat=5, min_pass=3)) == GateSpec("g", True, 5, 3)
    # a marker that sets repeat wants every run to pass unless it says otherwise
    assert gate_spec("t", ("g",), {"repeat": 2}, settings=GatesSettings(repeat=5, min_pass=3)).min_pass == 2


@pytest.mark.parametrize("kwargs, message", [
    ({"repeat": 0}, "repeat must be a positive integer"),
    ({"repeat": True}, "repeat must be a positive integer"),
    ({"repeat": 2, "min_pass": 3}, "min_pass must lie in [1, repeat=2]"),
])
def test_bad_marker_arguments_are_errors(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        gate_spec("t", ("g",), kwargs)


def test_classify_maps_exceptions_to_outcomes():
    assert classify(Inconclusive("only 3 pairs")) == ("inconclusive", "only 3 pairs")
    assert classify(NotApplicable("no flags")) == ("skipped", "no flags")
    assert classify(AssertionError("accuracy 0.5\n  is below 0.7")) == ("fail", "accuracy 0.5 | is below 0.7")
    assert classify(AssertionError()) == ("fail", "assertion failed")
    assert classify(RuntimeError("truncated")) == ("fail", "the gate raised RuntimeError: truncated")
    with pytest.raises(pytest.skip.Exception) as skipped:
        pytest.skip("not today")
    assert classify(skipped.value) == ("skipped", "not today")


def _runs(*outcomes: str) -> list[Attempt]:
    return [Attempt({None: Decision(o, f"run {k}", value=float(k))}) for k, o in enumerate(outcomes)]


def test_combine_counts_passes_against_min_pass():
    spec = GateSpec("flaky", repeat=3, min_pass=2)
    [(part, decision, outcomes)] = combine(spec, _runs("pass", "fail", "pass"))
    assert (part, decision.outcome, outcomes) == (None, "pass", ["pass", "fail", "pass"])
    assert decision.reason == "passed 2 of 3 runs (at least 2 must pass); last: run 2"
    assert [r["value"] for r in decision.details["runs"]] == [0.0, 1.0, 2.0]
    assert combine(GateSpec("flaky", repeat=3, min_pass=3), _runs("pass", "fail", "pass"))[0][1].outcome == "fail"
    # an inconclusive run could still have passed: the whole is inconclusive, not fail
    assert combine(spec, _runs("pass", "inconclusive", "fail"))[0][1].outcome == "inconclusive"
    assert combine(spec, _runs("pass", "skipped"))[0][1].outcome == "skipped"


def test_combine_keeps_parts_and_marks_a_part_missing_from_a_run():
    spec = GateSpec("gold", repeat=2, min_pass=2)
    first = Attempt({"a": Decision("pass", "ok"), "b": Decision("pass", "ok")})
    second = Attempt({"a": Decision("pass", "ok")})
    combined = {part: d for part, d, _ in combine(spec, [first, second])}
    assert combined["a"].outcome == "pass"
    assert combined["b"].outcome == "inconclusive"
    assert combined["b"].details["runs"][1]["reason"] == "not evaluated in run 2"


def test_a_run_with_no_record_and_no_error_passed_and_an_error_is_the_whole_gates():
    [(_, decision, _)] = combine(GateSpec("asserting"), [Attempt({})])
    assert (decision.outcome, decision.reason) == ("pass", "the gate's checks held")
    [(_, decision, _)] = combine(GateSpec("crashing"), [Attempt({}, ("fail", "boom"))])
    assert (decision.outcome, decision.reason) == ("fail", "boom")


def test_results_name_parts_and_apply_the_blocking_rule():
    combined = [("helpfulness", Decision("pass", "ok"), ["pass"]), ("safety", Decision("inconclusive", "thin"), [])]
    rows = to_results(GateSpec("gold"), "f.py::t", combined, 2.0, inconclusive_blocks=True)
    assert [(r.gate, r.blocks, r.duration_s) for r in rows] == [("gold/helpfulness", False, 1.0), ("gold/safety", True, 1.0)]
    rows = to_results(GateSpec("gold"), "f.py::t", combined, 2.0, inconclusive_blocks=False)
    assert [r.blocks for r in rows] == [False, False]
    shadow = single(GateSpec("exp", blocking=False), "f.py::t", "fail", "low")
    assert (shadow[0].outcome, shadow[0].blocks) == ("fail", False)
