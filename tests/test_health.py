from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignment_ci.config import Config
from alignment_ci.quality.health import label_health, without_raters
from alignment_ci.quality.load import load_valid_batch
from alignment_ci.report.render import render_health_markdown
from alignment_ci.jsonl import write_jsonl
from alignment_ci.synth import PLANTED_BAD_RATERS, make_pairwise_batch

from .test_cli import run_cli

HOSTILE = "<script>alert(1)</script> ![x](http://evil) @org/team =cmd|' /C calc'!A0 bob@example.com"


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    rows = make_pairwise_batch(batch_id="health-001", n_items=120, seed=5)
    for row in rows[:10]:
        row["sampling_bucket"] = HOSTILE
    return write_jsonl(rows, tmp_path_factory.mktemp("h") / "batch.jsonl")


def test_health_catches_planted_raters_and_counts(batch):
    df, report = load_valid_batch(batch, Config())
    health = label_health(df, Config(), warnings={"pii": 3}, bootstrap_samples=50)
    assert health["rows"] == 600 and health["items"] == 120 and health["raters"] == 10
    assert health["judgments_per_item"] == {"mean": 5.0, "min": 5, "max": 5}
    assert set(health["flagged_raters"]) == PLANTED_BAD_RATERS
    assert health["verdict"] == "fail"  # a third of the judgments are noise: alpha fails
    assert health["warnings"] == {"pii": 3}
    assert health["sampling"]["production_failure"]["budget"] == 0.4
    assert abs(sum(s["share"] for s in health["sampling"].values()) - 1) < 1e-9


def test_agreement_recovers_without_flagged_raters(batch):
    df, _ = load_valid_batch(batch, Config())
    health = label_health(df, Config(), bootstrap_samples=0)
    clean = without_raters(df, list(health["flagged_raters"]))
    after = label_health(clean, Config(), bootstrap_samples=0)
    for dim, d in after["agreement"]["dimensions"].items():
        assert d["krippendorff_alpha"] > health["agreement"]["dimensions"][dim]["krippendorff_alpha"] + 0.3
    assert not after["flagged_raters"]


def test_markdown_section_neutralises_vendor_text(batch):
    df, _ = load_valid_batch(batch, Config())
    md = render_health_markdown(label_health(df, Config(), bootstrap_samples=0))
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "![x](http://evil)" not in md and "http://evil" not in md
    assert "@org/team" not in md
    assert "bob@example.com" not in md
    assert "| r08 |" in md  # flagged raters listed


def test_cli_health_markdown_and_json(batch):
    md = run_cli("quality", "health", str(batch), "--format", "markdown")
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("### ❌ Label health: fail")
    js = run_cli("quality", "health", str(batch), "--format", "json")
    assert json.loads(js.stdout)["rows"] == 600


@pytest.mark.slow  # end to end through CLI subprocesses: `make test-slow`
def test_cli_quality_commands_follow_the_contract(batch, tmp_path):
    agreement = json.loads(run_cli("quality", "agreement", str(batch), "--format", "json", "--bootstrap", "20").stdout)
    for d in agreement["dimensions"].values():
        assert set(d) >= {"level", "n_items", "n_raters", "n_judgments", "krippendorff_alpha", "fleiss_kappa", "cohen_kappa", "percent_agreement"}
    raters = json.loads(run_cli("quality", "raters", str(batch), "--format", "json").stdout)
    for r in raters["raters"].values():
        assert set(r) >= {"n", "gold_accuracy", "agreement_with_consensus", "reliability", "flagged", "reasons"}
    bt = json.loads(run_cli("quality", "aggregate", str(batch), "--method", "bradley-terry", "--format", "json").stdout)
    assert set(bt) >= {"method", "scores", "position_bias"} and bt["position_bias"] is None
    assert abs(sum(bt["scores"].values())) < 1e-9
    ds = json.loads(run_cli("quality", "aggregate", str(batch), "--method", "dawid-skene", "--format", "json").stdout)
    assert ds["method"] == "dawid-skene" and all(set(v) >= {"choice", "confidence"} for v in ds["items"].values())
    pairs_out = tmp_path / "pairs.jsonl"
    pairs = run_cli("quality", "pairs", str(batch), "--out", str(pairs_out), "--format", "json")
    summary = json.loads(pairs.stdout)
    lines = pairs_out.read_text().splitlines()
    assert summary["n_pairs"] == len(lines) > 0
    assert set(json.loads(lines[0])) >= {"prompt", "chosen", "rejected", "weight", "item_id", "dimension", "batch_id"}
    adj = tmp_path / "adj.jsonl"
    result = run_cli("quality", "adjudicate", str(batch), "--out", str(adj), "--format", "json")
    assert json.loads(result.stdout)["items"] == len(adj.read_text().splitlines())


def test_quality_refuses_an_invalid_batch(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"batch_id": "x"\n')
    result = run_cli("quality", "raters", str(bad))
    assert result.returncode == 2
    assert "not a valid label batch" in result.stderr and "line 1" in result.stderr


def test_health_and_statistics_do_not_depend_on_the_free_text(batch, tmp_path):
    """The bridge reads a batch without prompts and responses for the manifest and label health:
    the summaries must be the same as from the whole frame."""
    from alignment_ci.data.manifest import batch_statistics, frame_statistics
    from alignment_ci.data.validate import validate_file
    from alignment_ci.quality.health import UNREAD_TEXT, health_columns

    import pyarrow.parquet as pq

    assert validate_file(batch, Config(), normalized_out=tmp_path / "n.parquet").accepted
    full = pq.read_table(tmp_path / "n.parquet").to_pandas()
    narrow = pq.read_table(tmp_path / "n.parquet", columns=health_columns(full.columns.tolist())).to_pandas()
    assert {"prompt", "response_a", "response_b"} <= set(full.columns) - set(narrow.columns) <= set(UNREAD_TEXT)
    assert label_health(narrow, Config(), bootstrap_samples=30) == label_health(full, Config(), bootstrap_samples=30)
    assert frame_statistics(narrow) == batch_statistics(tmp_path / "n.parquet")
