from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from alignment_ci.demo import run_demo


@pytest.mark.slow  # the whole loop, about a third of the suite's time: `make test-slow`
def test_demo_runs_end_to_end(tmp_path: Path):
    console = Console(record=True, width=120)
    summary = run_demo(tmp_path / "ws", console=console)
    assert summary["accepted_batch"]["rows"] == 1200
    assert summary["reingest_noop"] is True
    assert summary["manifests_ok"] and summary["lineage_ok"]
    kinds = {(e["line"], e["kind"]) for e in summary["rejected_batch"]["errors"]}
    assert summary["rejected_batch"]["accepted"] is False and summary["rejected_batch"]["status"] == 422
    assert summary["accepted_batch"]["pr"]["number"] == 1 and summary["bridge_status"] == "merged"
    # the planted mistakes of make_bad_batch_lines, at their physical lines
    assert (7, "invalid_value") in kinds
    assert (8, "duplicate") in kinds
    assert (9, "empty_prompt") in kinds
    assert (10, "unknown_dimension") in kinds
    assert (11, "invalid_json") in kinds
    from alignment_ci.synth import PLANTED_BAD_RATERS

    assert summary["quality"]["planted_caught"] == sorted(PLANTED_BAD_RATERS)
    assert set(summary["quality"]["flagged"]) == PLANTED_BAD_RATERS  # no careful rater flagged
    for dim, alpha in summary["quality"]["alpha"].items():
        assert summary["quality"]["alpha_without_flagged"][dim] > alpha
    # label quality is a gate: the planted raters fail it, the reviewed exclusion makes it pass
    label = summary["label_gate"]
    assert (label["before"], label["remedy"], label["remedy_outcome"]) == ("fail", sorted(PLANTED_BAD_RATERS), "pass")
    assert (label["excluded"], label["after"]) == (sorted(PLANTED_BAD_RATERS), "pass")
    assert summary["training"]["reward"]["metrics"]["eval_accuracy"] >= 0.9
    assert summary["training"]["rerun_cached"] is True
    critic = summary["critic"]  # the trained reward model as a critic on a new batch
    assert critic["critic"]["kind"] == "run" and critic["critic"]["run_key"] == summary["training"]["reward"]["run_key"]
    assert critic["found_in_top"] >= 0.8 * len(critic["planted_errors"]) > 0  # triage surfaces the planted errors
    assert critic["anchoring_flagged"] == ["ls-7"]  # the planted always-accept rater r07 (Label Studio user 7), nobody else
    assert critic["hints"] > 0 and critic["imported_rows_with_suggestion"] > 0  # safety: hints only; LS round trip
    gates = summary["gates"]
    assert gates["verdict"] == "pass" and gates["counts"]["fail"] == 0 and gates["counts"]["inconclusive"] == 0
    # the whole candidate against the production baseline
    assert gates["candidate"]["candidate_id"] == summary["training"]["candidate_id"]
    assert gates["candidate"]["reward_model"] and gates["candidate"]["policy"]
    assert gates["baseline"]["candidate_id"] == summary["training"]["baseline_id"]
    assert gates["baseline"]["source"].startswith("production baseline #1")
    ran = {name.split("/")[0] for name in gates["outcomes"]}
    decisive = ("gold", "calibration", "regression", "safety", "label_quality", "policy_winrate", "policy_health")
    assert set(decisive) <= ran  # the policy is judged on what it says, not only the reward model
    for name, outcome in gates["outcomes"].items():
        if name.split("/")[0] in decisive:
            assert outcome == "pass", (name, gates["outcomes"])
    assert gates["side_by_side"] >= 3  # the candidate's and the baseline's answers, shown side by side
    assert gates["first_line"].startswith("## ✅ Merge: every blocking gate passed")
    assert gates["state"] == "success" and Path(gates["files"]["html"]).exists()
    assert "alignment-ci:report" in Path(gates["comment"].removeprefix("file://")).read_text()
    rollout = summary["rollout"]
    assert rollout["healthy"]["status"] == "completed" and rollout["healthy"]["path"] == ["2%", "10%", "50%", "100%"]
    assert rollout["regressed"]["status"] == "rolled_back"
    assert rollout["regressed"]["weights"]["policy-worse"] == 0.0
    assert rollout["baseline_after"] == summary["training"]["candidate_id"]  # the completed rollout's candidate
    loop = summary["loop"]
    assert loop["flagged"]["enqueued"] > 0 and loop["flagged"]["opted_out_dropped"] > 0
    assert loop["tasks"] > 0 and loop["next_batch"]["status"] == 201 and loop["next_batch"]["pr"]["number"] == 2
    text = console.export_text()
    assert "nothing of the rejected batch was written" in text
    assert not (tmp_path / "ws" / "datasets_manifest" / "batches" / "acme" / "acme-2026-11-002.yaml").exists()
    assert (tmp_path / "ws" / "alignment.yaml").exists()
    assert "planted bad raters caught: 4/4" in text
