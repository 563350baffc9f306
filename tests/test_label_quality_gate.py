"""Label quality as a gate: the planted-bad-rater batch fails with its remedy named, the
exclusion is recorded in the manifest (and lineage) by the CLI, and then the gate passes;
training data, the gold set and the dataset snapshot honour the exclusion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from alignment_ci.cli import app
from alignment_ci.config import Config
from alignment_ci.data.manifest import ingest_batch, load_stored_batches, snapshot
from alignment_ci.errors import InputError
from alignment_ci.evals.datasets import gold_from_store
from alignment_ci.gating.context import GateOptions
from alignment_ci.gating.runner import run_gates
from alignment_ci.lineage import LineageLog
from alignment_ci.quality.label_quality import assess_batch
from alignment_ci.store import open_store
from alignment_ci.synth import PLANTED_BAD_RATERS, make_pairwise_batch, write_jsonl

BATCH = "acme-2026-11-001"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with the demo's planted-bad-rater batch ingested (no models)."""
    monkeypatch.chdir(tmp_path)
    for var in ("ALIGNMENT_CI_CANDIDATE", "ALIGNMENT_CI_BATCHES", "ALIGNMENT_CI_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "alignment.yaml").write_text("project: lq\nquality: {bootstrap_samples: 50}\n")
    config = Config()
    config._root = tmp_path
    rows = make_pairwise_batch(batch_id=BATCH, n_items=240, gold_share=0.35, seed=1)
    assert ingest_batch(write_jsonl(rows, tmp_path / "in" / f"{BATCH}.jsonl"), "acme", config).accepted
    return tmp_path


def gate(ws: Path):
    run = run_gates(GateOptions(results_dir=str(ws / "out"), batches=BATCH), select="label_quality")
    [result] = run.report.results
    return run, result


def test_the_planted_bad_raters_fail_the_gate_and_the_remedy_names_them(workspace):
    run, result = gate(workspace)
    assert (result.gate, result.outcome, result.blocks) == (f"label_quality/{BATCH}", "fail", True)
    assert run.report.verdict == "fail"
    remedy = result.details["remedy"]
    assert remedy["exclude_raters"] == sorted(PLANTED_BAD_RATERS) == ["r07", "r08", "r09", "r10"]
    assert remedy["outcome_after"] == "pass"
    assert remedy["command"].startswith(f"alignment-ci manifest exclude-raters {BATCH} --rater r07 --rater r08 "
                                        "--rater r09 --rater r10 --reason ")
    assert "Remedy: exclude raters r07, r08, r09, r10 (" in result.reason
    flagged = next(c for c in result.details["checks"] if c["name"] == "flagged_raters")
    assert flagged["outcome"] == "fail" and flagged["value"] > 0.3
    # factual_accuracy is critical in the default taxonomy
    assert result.details["dimensions"]["factual_accuracy"]["critical"] is True


def test_excluding_the_raters_is_a_reviewed_manifest_change_and_then_the_gate_passes(workspace):
    config = Config()
    config._root = workspace
    before = snapshot(config)["snapshot"]
    result = CliRunner().invoke(app, ["manifest", "exclude-raters", BATCH, "--rater", "r07", "--rater", "r08",
                                      "--rater", "r09", "--rater", "r10", "--reason", "flagged in review of PR 7",
                                      "--by", "reviewer", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["excluded"] == ["r07", "r08", "r09", "r10"]
    manifest = yaml.safe_load((workspace / "datasets_manifest" / "batches" / "acme" / f"{BATCH}.yaml").read_text())
    assert [(e["rater_id"], e["reason"], e["by"]) for e in manifest["excluded_raters"]] == [
        (r, "flagged in review of PR 7", "reviewer") for r in ("r07", "r08", "r09", "r10")]
    entry = [e for e in LineageLog(open_store(config)).entries() if e.kind == "exclude-raters"][-1]
    assert entry.subject == manifest["sha256"] and entry.data["raters"] == ["r07", "r08", "r09", "r10"]
    # a new snapshot: training will not reuse a run trained on the excluded judgments
    snap = snapshot(config)
    assert snap["snapshot"] != before and snap["batches"][0]["excluded_raters"] == ["r07", "r08", "r09", "r10"]
    # the gold set leaves them out
    assert not {p.get("rater_id") for p in gold_from_store(config).pairs} & PLANTED_BAD_RATERS
    run, after = gate(workspace)
    assert after.outcome == "pass", after.reason
    assert after.details["excluded_raters"] == ["r07", "r08", "r09", "r10"]
    assert "raters excluded by the manifest: r07, r08, r09, r10" in after.reason
    assert run.report.data["batches"] == [{"batch_id": BATCH, "vendor": "acme",
                                           "excluded_raters": ["r07", "r08", "r09", "r10"]}]


def test_training_data_leaves_the_excluded_raters_out(workspace):
    from alignment_ci.train.runs import load_dataset

    config = Config()
    config._root = workspace
    before = load_dataset(config, config.training.job("reward"))
    CliRunner().invoke(app, ["manifest", "exclude-raters", BATCH, "--rater", "r08", "--reason", "adversarial"])
    after = load_dataset(config, config.training.job("reward"))
    assert "r08" in before.raters and "r08" not in after.raters
    assert after.snapshot != before.snapshot


def test_an_exclusion_needs_a_reason_and_a_rater_of_the_batch(workspace):
    runner = CliRunner()
    no_reason = runner.invoke(app, ["manifest", "exclude-raters", BATCH, "--rater", "r07"])
    assert isinstance(no_reason.exception, InputError) and "needs a reason" in str(no_reason.exception)
    unknown = runner.invoke(app, ["manifest", "exclude-raters", BATCH, "--rater", "r99", "--reason", "x"])
    assert isinstance(unknown.exception, InputError)
    assert "rater(s) r99 not in batch acme-2026-11-001 (its raters: r01, r02" in str(unknown.exception)
    manifest = yaml.safe_load((workspace / "datasets_manifest" / "batches" / "acme" / f"{BATCH}.yaml").read_text())
    assert "excluded_raters" not in manifest  # nothing changed


def test_gold_accuracy_below_the_vendor_sla_fails_and_non_critical_agreement_is_reported_only(workspace):
    config = Config.model_validate({"sla": {"vendors": {"acme": {"min_gold_accuracy": 0.99}}}})
    config._root = workspace
    [batch] = load_stored_batches(config, [BATCH])
    result = assess_batch(batch.frame, config, batch_id=BATCH, vendor="acme", excluded_raters=sorted(PLANTED_BAD_RATERS))
    gold = next(c for c in result.checks if c.name == "gold_sla")
    assert gold.outcome == "fail" and gold.threshold == 0.99
    assert gold.reason.startswith("gold accuracy 0.9") and gold.reason.endswith("is below vendor acme's SLA of 0.99")
    assert result.outcome == "fail" and result.remedy["text"].startswith("no rater is flagged")
