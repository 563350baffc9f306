"""A vendor SLA breach in the batches of a PR shows in the report."""

from __future__ import annotations

from pathlib import Path

from alignment_ci.config import Config
from alignment_ci.data.manifest import ingest_batch
from alignment_ci.report.markdown import render_markdown
from alignment_ci.report.collect import collect_report_data
from alignment_ci.jsonl import write_jsonl
from alignment_ci.synth import make_pairwise_batch


def _report(tmp_path: Path, rows: list[dict], config: Config | None = None):
    config = config or Config()
    config._root = tmp_path
    batch = write_jsonl(rows, tmp_path / "batch.jsonl")
    ingest_batch(batch, "acme", config)
    return collect_report_data(config, gate_results=None, evals=None, batches=[batch], candidate=None, baseline=None,
                               html_url=None, run_url=None, store=None)


def test_noisy_vendor_breaches_agreement_and_gold_targets(tmp_path):
    data = _report(tmp_path, make_pairwise_batch(batch_id="sla-001", n_items=80, seed=4))
    acme = data.sla["vendors"]["acme"]
    assert acme["ok"] is False and acme["met"]["agreement"] is False
    md = render_markdown(data)
    # the built-in targets: the section says so instead of headlining a breach nobody contracted
    assert "Vendor SLA (defaults, not configured)" in md and "Vendor SLA — breach" not in md
    assert "**breach**: agreement" in md
    from alignment_ci.report.html import render_html

    assert "<b>breach</b>: agreement" in render_html(data)


def test_careful_vendor_meets_the_sla(tmp_path):
    rows = [r for r in make_pairwise_batch(batch_id="sla-002", n_items=80, seed=4, raters_per_item=5) if r["rater_id"] <= "r06"]
    data = _report(tmp_path, rows)
    acme = data.sla["vendors"]["acme"]
    assert acme["met"]["agreement"] is True and acme["met"]["decisions_per_rater_hour"] is True
    assert "**breach**: agreement" not in render_markdown(data)


def test_a_configured_sla_headlines_the_breach(tmp_path):
    from alignment_ci.config import parse_config

    config = parse_config("sla:\n  default: {min_agreement: 0.9}\n")
    data = _report(tmp_path, make_pairwise_batch(batch_id="sla-003", n_items=80, seed=4), config)
    md = render_markdown(data)
    assert "Vendor SLA — breach" in md and "not configured" not in md.split("Vendor SLA")[1].split("\n")[0]
