"""The rollout for a release manager: evidence in sentences and tables, pauses that name
their reason, simulate and step on one clock, and no silent restart of a rolled-back candidate."""

from __future__ import annotations

import json
from pathlib import Path

from alignment_ci.rollout.plan import RolloutPlan
from alignment_ci.rollout.words import evidence, evidence_markdown

from .test_cli import run_cli

T0 = "2026-11-01T00:00:00+00:00"


def _cli(ws: Path, *args: str):
    return run_cli(*args, cwd=ws)


def test_evidence_reads_as_a_sentence_with_points_and_the_bar():
    plan = RolloutPlan()
    analysis = {"metrics": {"thumbs_down": {"candidate": 0.097, "baseline": 0.051, "evalue": 643.2,
                                            "candidate_n": 900, "baseline_n": 9000},
                            "latency": {"candidate": None, "baseline": 0.2, "evalue": 1.0, "candidate_n": 0, "baseline_n": 10}}}
    rows = evidence(analysis, plan)
    assert rows[0]["sentence"] == f"thumbs_down 9.7% vs 5.1% (+4.6 pts), e-value 643 ≥ {plan.rollback_evalue:g}: roll back"
    assert rows[0]["verdict"] == "roll back" and abs(rows[0]["difference"] - 0.046) < 1e-9
    assert "no events on one side yet" in rows[1]["sentence"] and rows[1]["verdict"] == "no evidence of harm"
    table = evidence_markdown(rows)
    assert table.splitlines()[0] == "| metric | candidate | baseline | difference | e-value | verdict |"
    assert "| thumbs_down | 9.7% (900) | 5.1% (9000) | +4.6 pts | 643 | roll back |" in table


def test_rollback_is_explained_in_words_not_dicts(tmp_path):
    assert _cli(tmp_path, "rollout", "start", "r1", "--baseline", "m0", "--candidate", "m1", "--now", T0).returncode == 0
    sim = _cli(tmp_path, "rollout", "simulate", "--out", str(tmp_path / "ev.jsonl"), "--percent", "2", "--minutes", "120",
               "--per-minute", "300", "--baseline", "m0", "--candidate", "m1", "--regress", "1.8", "--start", T0)
    assert sim.returncode == 0, sim.stderr
    step = _cli(tmp_path, "rollout", "step", "r1", "--events", str(tmp_path / "ev.jsonl"))
    assert step.returncode == 1, step.stderr
    text = step.stdout
    assert "rolled back" in text and "{'" not in text and "evalue" not in text
    assert "strongest evidence: thumbs_down_rate " in text and "evidence (candidate vs baseline)" in text
    data = json.loads(_cli(tmp_path, "rollout", "status", "r1", "--format", "json").stdout)
    sentences = [row["sentence"] for row in data["evidence"]]
    assert any(s.startswith("thumbs_down_rate ") and s.endswith(": roll back") and " pts)" in s for s in sentences), sentences


def test_simulate_then_step_agree_on_time_without_now(tmp_path):
    (tmp_path / "alignment.yaml").write_text(
        "rollout:\n  stages:\n    - {percent: 10, min_events: 300, min_minutes: 30}\n"
        "    - {percent: 100, min_events: 0, min_minutes: 0, manual_approval: true}\n")
    assert _cli(tmp_path, "rollout", "start", "r2", "--baseline", "m0", "--candidate", "m1").returncode == 0
    sim = _cli(tmp_path, "rollout", "simulate", "--out", str(tmp_path / "ev.jsonl"), "--percent", "10", "--minutes", "60",
               "--per-minute", "200", "--baseline", "m0", "--candidate", "m1", "--format", "json")
    assert sim.returncode == 0, sim.stderr
    step = json.loads(_cli(tmp_path, "rollout", "step", "r2", "--events", str(tmp_path / "ev.jsonl"), "--format", "json").stdout)
    assert step["analysis"]["stage_candidate_events"] > 900  # the simulated hour, not "0/300"
    # The stage passed; entering 100% needs a person: the pause says so, not "inconclusive".
    assert step["status"] == "paused" and step["pause_reason"] == "awaiting approval for 100%"
    shown = _cli(tmp_path, "rollout", "status", "r2").stdout
    assert "paused — awaiting approval for 100%" in shown and "inconclusive" not in shown


def test_a_rolled_back_candidate_needs_force_and_a_reason_to_restart(tmp_path):
    _cli(tmp_path, "rollout", "start", "r1", "--baseline", "m0", "--candidate", "m1", "--now", T0)
    _cli(tmp_path, "rollout", "simulate", "--out", str(tmp_path / "ev.jsonl"), "--percent", "2", "--minutes", "120",
         "--per-minute", "300", "--baseline", "m0", "--candidate", "m1", "--regress", "1.8", "--start", T0)
    assert _cli(tmp_path, "rollout", "step", "r1", "--events", str(tmp_path / "ev.jsonl")).returncode == 1
    again = _cli(tmp_path, "rollout", "start", "r3", "--baseline", "m0", "--candidate", "m1")
    assert again.returncode == 2 and "was rolled back by rollout r1" in again.stderr and "--force" in again.stderr
    no_reason = _cli(tmp_path, "rollout", "start", "r3", "--baseline", "m0", "--candidate", "m1", "--force")
    assert no_reason.returncode == 2 and "--force needs --reason" in no_reason.stderr
    forced = _cli(tmp_path, "rollout", "start", "r3", "--baseline", "m0", "--candidate", "m1", "--force",
                  "--reason", "fixed the tokenizer", "--actor", "rm-alice", "--format", "json")
    assert forced.returncode == 0, forced.stderr
    reasons = json.loads(forced.stdout)["decision"]["reasons"]
    assert any("rm-alice" in r and "r1" in r and "fixed the tokenizer" in r for r in reasons), reasons
    # another candidate is not affected
    assert _cli(tmp_path, "rollout", "start", "r4", "--baseline", "m0", "--candidate", "m2").returncode == 0
