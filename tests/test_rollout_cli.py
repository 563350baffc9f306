"""The rollout CLI drives the controller end to end on simulated traffic, with deployments."""

from __future__ import annotations

import json
from pathlib import Path

from .test_cli import run_cli

T0 = "2026-11-01T00:00:00+00:00"


def _cli(ws: Path, *args: str):
    return run_cli(*args, "--format", "json", cwd=ws)


def test_regressed_candidate_is_rolled_back_with_evidence_and_deployment(tmp_path):
    assert _cli(tmp_path, "rollout", "start", "r1", "--baseline", "m0", "--candidate", "m1", "--now", T0, "--publish").returncode == 0
    sim = run_cli("rollout", "simulate", "--out", str(tmp_path / "ev.jsonl"), "--percent", "2", "--minutes", "120",
                  "--per-minute", "300", "--baseline", "m0", "--candidate", "m1", "--regress", "1.8", "--start", T0, cwd=tmp_path)
    assert sim.returncode == 0, sim.stderr
    step = _cli(tmp_path, "rollout", "step", "r1", "--events", str(tmp_path / "ev.jsonl"), "--now", "2026-11-01T02:00:00+00:00", "--publish")
    assert step.returncode == 1  # rollback is a failed check for the workflow
    result = json.loads(step.stdout)
    assert result["status"] == "rolled_back" and result["weights"] == {"m0": 100.0, "m1": 0.0}
    assert result["analysis"]["metrics"]["thumbs_down_rate"]["evalue"] > 20
    routing = json.loads((tmp_path / ".alignment-ci" / "routing.json").read_text())
    assert routing["weights"] == {"m0": 100.0, "m1": 0.0}
    current = json.loads(_cli(tmp_path, "rollout", "current").stdout)
    assert current["production"] == "m0" and current["weights"]["m1"] == 0.0
    deployment = json.loads((tmp_path / ".alignment-ci" / "forge" / "deployments" / "1.json").read_text())
    assert [s["state"] for s in deployment["statuses"]] == ["in_progress", "failure"]


def test_status_and_abort(tmp_path):
    _cli(tmp_path, "rollout", "start", "r2", "--baseline", "m0", "--candidate", "m1", "--now", T0)
    status = json.loads(_cli(tmp_path, "rollout", "status", "r2").stdout)
    assert status["percent"] == 2.0 and status["status"] == "running"
    aborted = json.loads(_cli(tmp_path, "rollout", "abort", "r2", "--reason", "release manager said no").stdout)
    assert aborted["status"] == "aborted" and aborted["percent"] == 0.0
    assert _cli(tmp_path, "rollout", "start", "bad/id", "--baseline", "a", "--candidate", "b").returncode == 2


def test_current_without_a_rollout_is_a_clear_error(tmp_path):
    result = run_cli("rollout", "current", cwd=tmp_path)
    assert result.returncode == 2 and "no routing table" in result.stderr


def test_events_of_other_model_versions_are_named_not_silently_ignored(tmp_path):
    _cli(tmp_path, "rollout", "start", "r3", "--baseline", "model-v1", "--candidate", "model-v2", "--now", T0)
    sim = run_cli("rollout", "simulate", "--out", str(tmp_path / "ev.jsonl"), "--percent", "2", "--minutes", "40",
                  "--start", T0, cwd=tmp_path)  # the simulator's default versions, not the rollout's
    assert sim.returncode == 0, sim.stderr
    step = json.loads(_cli(tmp_path, "rollout", "step", "r3", "--events", str(tmp_path / "ev.jsonl")).stdout)
    assert step["status"] == "running" and step["analysis"]["stage_candidate_events"] == 0
    hint = [r for r in step["decision"]["reasons"] if r.startswith("no event since the start")]
    assert hint and "model-baseline (" in hint[0] and "model-candidate (" in hint[0] and "model-v1 or model-v2" in hint[0]
    matched = run_cli("rollout", "simulate", "--out", str(tmp_path / "ok.jsonl"), "--percent", "2", "--minutes", "40",
                      "--baseline", "model-v1", "--candidate", "model-v2", "--start", "2026-11-01T00:41:00+00:00", cwd=tmp_path)
    assert matched.returncode == 0
    again = json.loads(_cli(tmp_path, "rollout", "step", "r3", "--events", str(tmp_path / "ok.jsonl")).stdout)
    assert again["analysis"]["stage_candidate_events"] > 0
    assert not any(r.startswith("no event since the start") for r in again["decision"]["reasons"])
