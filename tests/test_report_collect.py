"""The report's collector against real pipeline outputs: ingested batches (manifests, store),
run records in the store (train.runs), gate results with the evaluation data in `details`."""

from __future__ import annotations

import json
from pathlib import Path

from alignment_ci.config import Config
from alignment_ci.data.manifest import ingest_batch, snapshot
from alignment_ci.report.markdown import render_markdown
from alignment_ci.report.collect import collect_report_data
from alignment_ci.store import open_store
from alignment_ci.jsonl import write_jsonl
from alignment_ci.synth import make_pairwise_batch


def _record(key: str, stage: str, finished: str, snap: str, batches: list[dict], wall_s: float, backend: str = "local") -> dict:
    return {"run_key": key, "stage": stage, "artifact": key[::-1], "metrics": {"eval_accuracy": 0.9}, "per_step": [],
            "snapshot": snap, "batches": batches, "wall_s": wall_s, "device": "cuda", "backend": backend,
            "config": {"modal": {"gpu": "A100-80GB:2"}}, "parents": {}, "git_commit": "9" * 40, "finished_at": finished}


def test_collects_runs_from_the_store_and_batches_from_the_manifests(tmp_path: Path):
    config = Config()
    config._root = tmp_path
    config.cost.price_per_label["acme"] = 0.25
    batch = write_jsonl(make_pairwise_batch(batch_id="acme-001", n_items=40, seed=4), tmp_path / "acme-001.jsonl")
    assert ingest_batch(batch, "acme", config).accepted
    snap = snapshot(config)
    store = open_store(config)
    old = _record("1" * 64, "reward", "2026-01-01T00:00:00+00:00", snap["snapshot"], snap["batches"], 3600.0)
    new = _record("2" * 64, "dpo", "2026-01-02T00:00:00+00:00", snap["snapshot"], snap["batches"], 1800.0, backend="modal")
    store.put_record("runs", old["run_key"], old)
    store.put_record("runs", new["run_key"], new)
    gates_dir = tmp_path / ".alignment-ci" / "out" / "gates"
    gates_dir.mkdir(parents=True)
    (gates_dir / "results.json").write_text(json.dumps([
        {"gate": "calibration", "outcome": "pass", "value": 0.04, "threshold": 0.1, "n": 300,
         "details": {"bins": [{"predicted": 0.25, "observed": 0.3, "n": 100}, {"predicted": 0.75, "observed": 0.7, "n": 200}]}},
    ]))

    data = collect_report_data(config, baseline="11111111")  # a key prefix, as `--baseline` takes it
    assert data.candidate["run_key"] == "2" * 64  # the newest run is the default candidate
    assert data.baseline["run_key"] == "1" * 64
    assert data.lineage["snapshot"] == snap["snapshot"] and data.lineage["git_commit"] == "9" * 40
    assert data.lineage["batches"] == [{"batch_id": "acme-001", "vendor": "acme", "sha256": snap["batches"][0]["sha256"]}]
    assert [(v["batch_id"], v["accepted"], v["rows"]) for v in data.validation] == [("acme-001", True, 200)]
    assert data.health is None  # no batch file given: health is not recomputed from the store
    assert data.calibration == [{"predicted": 0.25, "observed": 0.3, "n": 100}, {"predicted": 0.75, "observed": 0.7, "n": 200}]
    # 200 labels at acme's $0.25; 0.5 h on two A100-80GB at $2.50
    assert data.cost == {"labels": 200, "annotation_usd": 50.0, "gpu_hours": 1.0, "gpu": "A100-80GB", "gpu_usd": 2.5,
                         "total_usd": 52.5, "configured": True}
    md = render_markdown(data)
    assert md.startswith("## ✅ Merge: every blocking gate passed (1 passed)\n")
    assert "| 200 | $50.00 | 1.000 | A100-80GB | $2.50 | $52.50 |" in md
    assert 'x-axis "predicted" ["0.25", "0.75"]' in md
