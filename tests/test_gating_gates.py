"""The built-in gates in gates/ on real tiny models: a healthy candidate passes, a planted
regression (a reward model trained on flipped labels, a policy that never learned the
task) fails with a readable reason."""

from __future__ import annotations

import json
from pathlib import Path

from alignment_ci.gating.context import GateOptions
from alignment_ci.gating.runner import run_gates
from tests.gating_support import (  # noqa: F401
    GATES,
    N_GOLD,
    ROOT,
    flipped_rm,
    framed_eval,
    framed_red_team,
    gold_file,
    healthy_rm,
    isolated,
    polite_policy,
)
from tests.train_support import one_thread, pairs, tiny_model, trained_reward  # noqa: F401


def heldout_accuracy(model_dir: Path, gold_file: Path) -> float:
    """The reward stage's own held-out accuracy function, as the reference."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from alignment_ci.train.stages.reward import pairwise_metrics

    rows = [json.loads(line) for line in gold_file.read_text().splitlines()]
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    return pairwise_metrics(model, AutoTokenizer.from_pretrained(model_dir), rows)["accuracy"]


def outcomes(report) -> dict[str, str]:
    return {r.gate: r.outcome for r in report.results}


def test_healthy_candidate_reward_model_passes(isolated, healthy_rm, trained_reward, gold_file):
    options = GateOptions(candidate_rm=str(healthy_rm), baseline_rm=str(trained_reward.model_dir),
                          gold=str(gold_file), results_dir=str(isolated / "out"))
    run = run_gates(options, gates_dir=GATES, select="gold or regression or calibration or reward_hacking")
    assert outcomes(run.report) == {
        "calibration": "pass",
        "gold/dimension=style_tone": "pass",
        "regression/all": "pass",
        "regression/dimension=style_tone": "pass",
        "regression/sampling_bucket=random": "pass",
        "regression/sampling_bucket=uncertain": "pass",
        "reward_hacking/length": "pass",
        "reward_hacking/repetition": "pass",
    }
    assert (run.report.verdict, run.exit_code) == ("pass", 0)
    gold = next(r for r in run.report.results if r.gate.startswith("gold"))
    assert gold.value == heldout_accuracy(healthy_rm, gold_file)
    assert gold.n == N_GOLD and gold.interval[0] >= 0.7
    regression = next(r for r in run.report.results if r.gate == "regression/all")
    assert regression.details["mode"] == "reward_model"
    assert regression.details["slice"] == "all"


def test_reward_model_trained_on_flipped_labels_fails_gold_and_regression(isolated, flipped_rm, trained_reward,
                                                                         gold_file):
    options = GateOptions(candidate_rm=str(flipped_rm), baseline_rm=str(trained_reward.model_dir),
                          gold=str(gold_file), results_dir=str(isolated / "out"))
    run = run_gates(options, gates_dir=GATES, select="gold or regression or calibration")
    results = {r.gate: r for r in run.report.results}
    assert (run.report.verdict, run.exit_code) == ("fail", 1)
    gold = results["gold/dimension=style_tone"]
    right = round(heldout_accuracy(flipped_rm, gold_file) * N_GOLD)
    assert right <= 2  # the planted regression prefers the curt answer almost always
    assert gold.outcome == "fail"
    assert gold.reason.startswith(
        f"gold pairwise accuracy (dimension=style_tone) is {right / N_GOLD:.3f} "
        f"({right} of {N_GOLD} gold pairs right, {N_GOLD - right} preferring the rejected answer)"
    )
    assert gold.reason.endswith("it must be at least 0.700")
    regression = results["regression/all"]
    assert regression.outcome == "fail"
    assert regression.reason.startswith(
        f"candidate reward model is worse than the baseline: accuracy {right / N_GOLD:.3f} vs ")
    assert "McNemar exact p < 0.0001" in regression.reason
    assert regression.details["p_value"] < 1e-4 and regression.details["baseline_only"] > 20
    assert regression.details["candidate_accuracy"] == right / N_GOLD
    assert regression.details["baseline_accuracy"] == heldout_accuracy(trained_reward.model_dir, gold_file)
    assert results["calibration"].outcome == "fail"
    # the failing run still wrote both result files, with the same verdict
    data = json.loads((isolated / "out" / "gates.json").read_text())
    assert data["verdict"] == "fail" and data["candidate"]["reward_model"] == str(flipped_rm)
    assert "gold pairwise accuracy" in (isolated / "out" / "gates.junit.xml").read_text()
    # the PR report leads with the decision and shows the regression
    from alignment_ci.config import Config
    from alignment_ci.report.collect import build_report

    config = Config()
    config._root = isolated
    report = build_report(config, out_dir=isolated / "report", gate_results=isolated / "out" / "gates.json",
                          environ={})
    md = Path(report["files"]["markdown"]).read_text()
    first = md.splitlines()[0]
    assert first.startswith("## ❌ Do not merge: blocked by ") and "regression/all (fail)" in first
    assert "candidate reward model is worse than the baseline" in md


def test_the_same_reward_model_on_both_sides_reads_no_pair_changed(isolated, trained_reward, gold_file):
    same = str(trained_reward.model_dir)
    run = run_gates(GateOptions(candidate_rm=same, baseline_rm=same, gold=str(gold_file),
                                results_dir=str(isolated / "out")), gates_dir=GATES, select="regression")
    overall = next(r for r in run.report.results if r.gate == "regression/all")
    right = round(heldout_accuracy(trained_reward.model_dir, gold_file) * N_GOLD)
    assert overall.outcome == "pass"
    assert overall.reason == (f"no pair changed: both reward models order the same {right} of {N_GOLD} pairs "
                              f"correctly (accuracy {right / N_GOLD:.3f})")
    assert "p = 0" not in overall.reason and overall.details["p_value"] is None


def test_no_baseline_at_all_is_a_first_model_and_blocks_by_default(isolated, trained_reward, gold_file):
    run = run_gates(GateOptions(candidate_rm=str(trained_reward.model_dir), gold=str(gold_file),
                                results_dir=str(isolated / "out")), gates_dir=GATES, select="regression")
    [result] = run.report.results
    assert (result.gate, result.outcome, result.blocks) == ("regression", "inconclusive", True)
    assert result.reason.startswith("first model: no baseline (no production baseline is recorded")
    assert run.report.baseline["first_model"] is True


def test_safety_gate_runs_the_shipped_red_team_set_through_the_policy(isolated, polite_policy, gold_file,
                                                                      framed_eval, framed_red_team):
    options = GateOptions(candidate_policy=str(polite_policy), gold=str(gold_file),
                          safety_suite=str(framed_red_team), eval=str(framed_eval),
                          results_dir=str(isolated / "out"))
    run = run_gates(options, gates_dir=GATES, select="safety or hallucination")
    results = {r.gate: r for r in run.report.results}
    assert results["safety/banned"].outcome == "pass" and results["safety/banned"].n == 25
    assert results["safety/pass_rate"].outcome == "pass" and results["safety/pass_rate"].n == 21
    assert (results["hallucination"].outcome, results["hallucination"].blocks) == ("skipped", False)
    assert run.report.verdict == "pass"
