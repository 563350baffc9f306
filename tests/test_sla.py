"""Vendor SLAs: turnaround, throughput, agreement and gold accuracy against contracted targets."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest

from alignment_ci.config import Config
from alignment_ci.errors import InputError
from alignment_ci.monitor.settings import SlaSettings, SlaTarget
from alignment_ci.monitor.sla import batch_sla_record, vendor_sla
from alignment_ci.quality.agreement import agreement_report
from alignment_ci.synth import make_pairwise_batch

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=timezone.utc)


def test_vendor_sla_against_targets():
    records = [
        {"vendor": "acme", "batch_id": "a1", "pushed_at": "2025-03-01T00:00:00Z", "accepted_at": "2025-03-02T00:00:00Z",
         "decisions": 600, "rater_seconds": 18000, "agreement": 0.8, "agreement_judgments": 600, "gold_judgments": 50, "gold_correct": 45},
        {"vendor": "acme", "batch_id": "a2", "pushed_at": "2025-03-03T00:00:00Z", "accepted_at": "2025-03-06T00:00:00Z",
         "decisions": 400, "rater_seconds": 18000, "agreement": 0.6, "agreement_judgments": 400, "gold_judgments": 50, "gold_correct": 35},
        {"vendor": "acme", "batch_id": "a3", "pushed_at": "2025-03-10T06:00:00Z", "accepted_at": None, "decisions": 0},
        {"vendor": "slowco", "batch_id": "s1", "pushed_at": "2025-03-01T00:00:00Z", "accepted_at": "2025-03-08T00:00:00+00:00",
         "decisions": 100, "rater_seconds": 3600, "agreement": None, "gold_judgments": 0, "gold_correct": 0},
    ]
    settings = SlaSettings(default=SlaTarget(max_turnaround_hours=48), vendors={"slowco": SlaTarget(max_turnaround_hours=200, min_decisions_per_rater_hour=120)})
    report = vendor_sla(records, settings, now=NOW)
    acme = report["vendors"]["acme"]
    assert (acme["batches"], acme["accepted"], acme["pending"]) == (3, 2, 1)
    assert acme["turnaround_hours_median"] == 48.0 and acme["turnaround_hours_p90"] == 67.2 and acme["oldest_pending_hours"] == 6.0
    assert acme["decisions_per_rater_hour"] == 100.0  # 1000 decisions / 10 rater-hours
    assert acme["agreement"] == 0.72  # (0.8 x 600 + 0.6 x 400) / 1000
    assert acme["gold_accuracy"] == 0.8
    assert acme["met"] == {"turnaround": True, "decisions_per_rater_hour": True, "agreement": True, "gold_accuracy": True}
    slow = report["vendors"]["slowco"]
    assert slow["met"] == {"turnaround": True, "decisions_per_rater_hour": False, "agreement": None, "gold_accuracy": None}
    assert slow["ok"] is False and acme["ok"] is True and report["ok"] is False
    with pytest.raises(InputError, match="batch x of v: accepted_at is before pushed_at"):
        vendor_sla([{"vendor": "v", "batch_id": "x", "pushed_at": "2025-03-02T00:00:00Z", "accepted_at": "2025-03-01T00:00:00Z"}])


def test_batch_sla_record_from_rows_uses_the_quality_statistics():
    df = pd.DataFrame(make_pairwise_batch(n_items=60, raters_per_item=4, seed=2))
    record = batch_sla_record(df, "acme", "demo-batch-001", "2025-03-01T00:00:00Z", "2025-03-01T12:00:00Z", Config())
    assert record["decisions"] == 240
    assert record["rater_seconds"] == pytest.approx(float(df["time_spent_s"].sum()))
    gold = df[df["is_gold"]]
    assert record["gold_judgments"] == len(gold)
    assert record["gold_correct"] == int((gold["choice"] == gold["gold_choice"]).sum())
    alpha = agreement_report(df, Config(), bootstrap_samples=0)["dimensions"]
    weighted = sum(d["krippendorff_alpha"] * d["n_judgments"] for d in alpha.values()) / sum(d["n_judgments"] for d in alpha.values())
    assert record["agreement"] == pytest.approx(weighted)
    report = vendor_sla([record], now=NOW)["vendors"]["acme"]
    assert report["turnaround_hours_median"] == 12.0 and report["gold_judgments"] == len(gold)
