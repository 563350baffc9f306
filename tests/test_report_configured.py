"""The report shows what is configured: cost priced with placeholder prices is marked so,
and a batch without sampling buckets gets no sampling-budget table."""

from __future__ import annotations

from pathlib import Path

from alignment_ci.config import Config, parse_config
from alignment_ci.data.manifest import ingest_batch
from alignment_ci.report.collect import collect_report_data
from alignment_ci.report.html import render_html
from alignment_ci.report.markdown import render_markdown
from alignment_ci.synth import make_pairwise_batch, write_jsonl


def _report(tmp_path: Path, rows: list[dict], config: Config):
    config._root = tmp_path
    batch = write_jsonl(rows, tmp_path / "batch.jsonl")
    ingest_batch(batch, "acme", config)
    return collect_report_data(config, gate_results=None, evals=None, batches=[batch], candidate=None, baseline=None,
                               html_url=None, run_url=None, store=None)


def test_default_prices_are_marked_not_configured(tmp_path):
    data = _report(tmp_path, make_pairwise_batch(batch_id="c-1", n_items=30, seed=1), Config())
    md = render_markdown(data)
    assert "Cost of the run (defaults, not configured)" in md and "placeholder prices" in md
    configured = _report(tmp_path / "b", make_pairwise_batch(batch_id="c-2", n_items=30, seed=1),
                         parse_config("cost:\n  price_per_label: {default: 0.3}\n"))
    md = render_markdown(configured)
    assert "Cost of the run" in md and "(defaults, not configured)" not in md.split("Cost of the run")[1][:40]


def test_sampling_table_only_when_the_batch_carries_buckets(tmp_path):
    rows = make_pairwise_batch(batch_id="c-3", n_items=30, seed=1)
    with_buckets = _report(tmp_path, rows, Config())
    assert "Sampling buckets against the budget" in render_markdown(with_buckets)
    plain = [{k: v for k, v in r.items() if k not in ("sampling_bucket", "sampling_reason")} for r in rows]
    plain = [{**r, "batch_id": "c-4"} for r in plain]
    without = _report(tmp_path / "b", plain, Config())
    assert without.health[0]["sampling"] == {}
    assert "Sampling buckets against the budget" not in render_markdown(without)
    assert "sampling bucket" not in render_html(without)
