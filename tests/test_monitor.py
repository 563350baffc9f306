"""Production events -> failure signals -> prioritised, deduplicated, privacy-safe examples."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from alignment_ci.errors import InputError
from alignment_ci.monitor.embeddings import group_near_duplicates, load_embedder
from alignment_ci.monitor.events import read_production_events
from alignment_ci.monitor.settings import MonitorSettings
from alignment_ci.monitor.triage import detect_signals, token_anomalies, triage

DIMENSIONS = ["helpfulness", "factual_accuracy", "safety", "style_tone", "instruction_following"]


def _event(i: int, **kw):
    base = {"timestamp": f"2025-02-01T10:{i:02d}:00Z", "model_version": "v1", "request_id": f"req-{i}",
            "prompt": f"Routine question number {i} about shipping times", "response": "It ships in 2 days.",
            "user_id": f"user-{i}", "tokens": 100 + (i % 7) - 3, "customer_tier": "free"}
    base.update(kw)
    return base


def _events() -> list[dict]:
    events = [_event(i) for i in range(20)]
    events += [
        _event(20, prompt="How do I reset my password?", thumbs="down", user_id="alice"),
        _event(21, prompt="how do i reset my password", thumbs="down", user_id="bob"),
        _event(22, prompt="How can I reset my password?", thumbs="down", user_id="carol"),
        _event(23, prompt="I forgot my password, how do I reset it?", thumbs="down", customer_tier="enterprise", user_id="dan"),
        _event(24, prompt="Password reset steps please", thumbs="down"),
        _event(25, prompt="I want to hurt myself", policy_tags=["self_harm"], customer_tier="enterprise"),
        _event(26, prompt="Who invented the telephone in 1999?", hallucination_flag=True, customer_tier="pro"),
        _event(27, prompt="Call me at +1 415 555 0100 about my order", escalated=True, customer_tier="pro"),
        _event(28, prompt="Translate 'cat' to French", correction="The answer should be 'chat'.", response="chien"),
        _event(29, prompt="Summarize this article for me", tokens=2000),
        _event(30, prompt="SECRET opted out question about my divorce", thumbs="down", opted_out=True, user_id="zoe"),
    ]
    return events


@pytest.fixture(scope="module")
def embedder():
    return load_embedder()


@pytest.fixture
def events_file(tmp_path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in _events()) + "\n")
    return path


def test_read_production_events_normalises_triage_fields(events_file):
    events = read_production_events(events_file)
    assert len(events) == 31
    row = events.set_index("request_id").loc["req-28"]
    assert bool(row["has_correction"]) and row["correction"] == "The answer should be 'chat'."
    assert events.set_index("request_id").loc["req-25", "policy_tags"] == ["self_harm"]
    assert events.set_index("request_id").loc["req-1", "policy_tags"] == []
    assert int(events["opted_out"].sum()) == 1


def test_read_production_events_names_the_bad_event(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(_event(1, policy_tags="self_harm")) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl: event request_id='req-1': policy_tags must be a list of strings"):
        read_production_events(path)


def test_token_anomaly_uses_the_models_own_baseline():
    normal_v1 = [{"model_version": "v1", "tokens": 100 + d} for d in (-3, -2, -1, 0, 1, 2, 3) * 3]
    normal_v2 = [{"model_version": "v2", "tokens": 400 + d} for d in (-30, -20, -10, 0, 10, 20, 30) * 3]
    frame = pd.DataFrame(normal_v1 + normal_v2 + [{"model_version": "v1", "tokens": 400}, {"model_version": "v2", "tokens": 400}])
    flagged = token_anomalies(frame, z_threshold=4.0, min_events=20)
    # 400 tokens is anomalous for v1 (baseline 100) and normal for v2 (baseline 400).
    assert flagged.tolist() == [False] * 42 + [True, False]


def test_detect_signals_and_severity(events_file):
    events = read_production_events(events_file).set_index("request_id")
    signals = detect_signals(events)
    assert signals.loc["req-25", "severity"] == 1.0 and signals.loc["req-25", "policy_tag"]
    assert signals.loc["req-28", "correction"] and signals.loc["req-28", "severity"] == 0.5
    assert signals.loc["req-29", "token_anomaly"] and signals.loc["req-29", "severity"] == 0.2
    assert signals.loc["req-3", "severity"] == 0.0


def test_triage_groups_prioritises_and_keeps_users_apart(events_file, embedder):
    events = read_production_events(events_file)
    result = triage(events, embedder, MonitorSettings(), dimensions=DIMENSIONS)
    summary = [(it["prompt"][:24], it["priority"], it["expedited"], it["frequency"], it["dimension"]) for it in result.items]
    assert summary == [
        ("I want to hurt myself", 4.0, True, 1, "safety"),
        ("Who invented the telepho", 1.6, True, 1, "factual_accuracy"),
        ("I forgot my password, ho", 2.1, False, 4, "helpfulness"),  # 0.3 x 4 events x mean(1, 1, 1, 4)
        ("Call me at [phone redact", 1.2, False, 1, "helpfulness"),
        ("Translate 'cat' to Frenc", 0.5, False, 1, "instruction_following"),
        ("Password reset steps ple", 0.3, False, 1, "helpfulness"),  # cosine 0.83 < 0.85: its own group
        ("Summarize this article f", 0.2, False, 1, "style_tone"),
    ]
    assert result.stats == {
        "events": 31, "opted_out_dropped": 1, "failing_events": 10, "failing_without_prompt": 0,
        "signals": {"policy_tag": 1, "hallucination": 1, "escalation": 1, "correction": 1, "thumbs_down": 5, "token_anomaly": 1},
        "groups": 7, "expedited": 2,
    }
    harm = result.items[0]
    assert harm["sensitive_category"] == "self_harm" and harm["bucket"] == "production_failure"
    correction = result.items[4]
    assert correction["task_type"] == "pairwise" and correction["responses"] == ["chien", "The answer should be 'chat'."]
    assert "thumbs_down x4 in 4 events (4 near-duplicate prompts); tiers enterprise x1, free x3" in result.items[2]["reason"]
    # Opted-out content never appears; no user or request ids in the items.
    dumped = json.dumps(result.items)
    assert "SECRET" not in dumped and "divorce" not in json.dumps(result.user_links)
    for name in ("alice", "bob", "user-", "req-", "415 555"):
        assert name not in dumped
    links = {l["item_id"]: l for l in result.user_links}
    pw = links[result.items[2]["item_id"]]
    assert pw["request_ids"] == ["req-20", "req-21", "req-22", "req-23"]
    assert len(pw["users"]) == 4 and all(u.startswith("u-") and "alice" not in u for u in pw["users"])


def test_group_near_duplicates_is_leader_clustering():
    import numpy as np

    v = np.array([[1.0, 0.0], [0.99, 0.141], [0.0, 1.0], [0.6, 0.8]])
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    assert group_near_duplicates(v, 0.95).tolist() == [0, 0, 1, 2]
    assert group_near_duplicates(v, 0.5).tolist() == [0, 0, 1, 1]


def test_cli_monitor_ingest_writes_items_and_links_apart_and_enqueues(tmp_path, events_file):
    import typer
    from typer.testing import CliRunner

    from alignment_ci.commands import monitor as monitor_cmd
    from alignment_ci.config import load_config
    from alignment_ci.monitor.queue import export_queue, open_queue, session_scope

    (tmp_path / "alignment.yaml").write_text("bridge:\n  database_url: sqlite:///q.db\n")
    app = typer.Typer()
    app.add_typer(monitor_cmd.app, name="monitor")
    out = tmp_path / "flagged.jsonl"
    result = CliRunner().invoke(app, ["monitor", "ingest", str(events_file), "--out", str(out), "--enqueue",
                                      "--config", str(tmp_path / "alignment.yaml"), "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["groups"], summary["expedited"], summary["enqueued"]) == (7, 2, 7)
    items = [json.loads(line) for line in out.read_text().splitlines()]
    links = [json.loads(line) for line in (tmp_path / "flagged.users.jsonl").read_text().splitlines()]
    assert [i["item_id"] for i in items] == [l["item_id"] for l in links]
    assert "user_id" not in out.read_text() and "alice" not in out.read_text()
    with session_scope(open_queue(load_config(tmp_path / "alignment.yaml"))) as s:
        queued = export_queue(s)
    assert [q["item_id"] for q in queued][:2] == [items[0]["item_id"], items[1]["item_id"]]
    assert queued[0]["sensitive_category"] == "self_harm" and queued[0]["expedited"] is True
