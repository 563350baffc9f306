"""The retrain trigger: counts merged labels since the last snapshot, opens the bump PR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from alignment_ci.config import load_config, parse_config
from alignment_ci.data.manifest import ingest_batch, snapshot
from alignment_ci.errors import InputError
from alignment_ci.forge.github import GitHubForge
from alignment_ci.forge.local import LocalForge
from alignment_ci.monitor import retrain as rt
from alignment_ci.monitor.retrain import open_retrain_pr, retrain_check, set_training_snapshot
from alignment_ci.monitor.settings import RetrainSettings
from alignment_ci.store import open_store
from alignment_ci.jsonl import write_jsonl
from alignment_ci.synth import make_pairwise_batch
from alignment_ci.train.runs import RUNS_KIND
from tests.github_server import GitHubAPIServer, github_server  # noqa: F401
from tests.test_workflows import actionlint  # noqa: F401  (fixture)

CONFIG_TEXT = """# the repo's config
project: demo
training:
  seed: 3   # keep
  dataset:
    aggregation: majority
    snapshot: latest  # bumped by retrain PRs
"""


def _repo(tmp_path: Path, batches: list[tuple[str, int]]) -> Path:
    (tmp_path / "alignment.yaml").write_text(CONFIG_TEXT)
    config = load_config(tmp_path / "alignment.yaml")
    for i, (batch_id, items) in enumerate(batches):
        path = tmp_path / f"{batch_id}.jsonl"
        write_jsonl(make_pairwise_batch(batch_id=batch_id, n_items=items, raters_per_item=3, seed=i), path)
        assert ingest_batch(path, "acme", config).accepted
    return tmp_path / "alignment.yaml"


def test_runs_kind_matches_the_training_module():
    assert rt.RUNS_KIND == RUNS_KIND


def test_set_training_snapshot_edits_in_place_and_inserts():
    digest = "0123456789" * 6 + "abcd"
    edited = set_training_snapshot(CONFIG_TEXT, digest)
    assert edited == CONFIG_TEXT.replace("snapshot: latest", f'snapshot: "{digest}"')
    no_snapshot = "training:\n  dataset:\n    aggregation: majority\n"
    assert set_training_snapshot(no_snapshot, digest) == f'training:\n  dataset:\n    snapshot: "{digest}"\n    aggregation: majority\n'
    no_dataset = "project: x\ntraining:\n    seed: 1\n"
    assert set_training_snapshot(no_dataset, digest) == f'project: x\ntraining:\n    dataset:\n      snapshot: "{digest}"\n    seed: 1\n'
    assert set_training_snapshot("project: x\n", digest) == f'project: x\ntraining:\n  dataset:\n    snapshot: "{digest}"\n'
    for text in (edited, set_training_snapshot(no_dataset, digest)):
        assert parse_config(text).training.dataset.snapshot == digest  # quoted: all-digit hashes stay strings
    with pytest.raises(InputError, match=r"alignment.yaml:1: `training` is not a block mapping"):
        set_training_snapshot("training: {seed: 1}\n", digest)


def test_check_counts_labels_since_the_last_snapshot_and_run(tmp_path):
    config_path = _repo(tmp_path, [("b1", 20), ("b2", 30)])
    config = load_config(config_path)
    store = open_store(config)
    settings = RetrainSettings(min_new_labels=100)
    first = retrain_check(config, store=store, settings=settings)
    assert (first.due, first.trigger, first.new_labels) == (True, "count", 150)  # 50 items x 3 raters
    assert [b["batch_id"] for b in first.new_batches] == ["b1", "b2"]
    assert first.snapshot == snapshot(config)["snapshot"]
    # A training run that used b1: only b2's 90 labels are new.
    store.put_record(RUNS_KIND, "run-1", {"run_key": "run-1", "batch_ids": ["b1"], "finished_at": "2025-01-01T00:00:00+00:00"})
    second = retrain_check(config, store=store, settings=settings)
    assert (second.due, second.new_labels, second.last_run) == (False, 90, "run-1")
    assert second.reason == "90 new merged labels, below the threshold 100"
    scheduled = retrain_check(config, store=store, settings=settings, schedule=True)
    assert (scheduled.due, scheduled.trigger) == (True, "schedule")


def test_open_pr_on_the_local_forge_bumps_snapshot_and_is_idempotent(tmp_path):
    config_path = _repo(tmp_path, [("b1", 40)])
    config = load_config(config_path)
    decision = retrain_check(config, store=open_store(config), settings=RetrainSettings(min_new_labels=100))
    assert decision.due and decision.new_labels == 120
    forge = LocalForge.for_workspace(tmp_path, ".alignment-ci/forge")
    ref = open_retrain_pr(config, decision, forge)
    again = open_retrain_pr(config, decision, forge)
    assert ref.created and not again.created and again.number == ref.number
    files = tmp_path / ".alignment-ci/forge/prs" / str(ref.number) / "files"
    new_config = (files / "alignment.yaml").read_text()
    assert parse_config(new_config).training.dataset.snapshot == decision.snapshot
    assert "# bumped by retrain PRs" in new_config and "seed: 3   # keep" in new_config
    state = yaml.safe_load((files / "datasets_manifest/training_snapshot.yaml").read_text())
    assert state["snapshot"] == decision.snapshot and [b["batch_id"] for b in state["batches"]] == ["b1"]
    # Once that PR is merged (the state file lands), the same labels no longer count.
    (tmp_path / "datasets_manifest/training_snapshot.yaml").write_text((files / "datasets_manifest/training_snapshot.yaml").read_text())
    after = retrain_check(config, store=open_store(config), settings=RetrainSettings(min_new_labels=100), schedule=True)
    assert (after.due, after.new_labels) == (False, 0)


def test_open_pr_through_github(tmp_path, github_server: GitHubAPIServer):
    config_path = _repo(tmp_path, [("b1", 10)])
    config = load_config(config_path)
    decision = retrain_check(config, store=open_store(config), schedule=True)
    forge = GitHubForge(github_server.full_name, api_url=github_server.url, token=github_server.token)
    ref = open_retrain_pr(config, decision, forge)
    branch = f"retrain/{decision.snapshot[:12]}"
    (pull,) = github_server.pulls()
    assert pull["head"]["ref"] == branch and pull["title"] == f"Retrain on dataset snapshot {decision.snapshot[:12]} (+30 labels)"
    assert "Trigger: **schedule**" in pull["body"]
    pushed = github_server.file_on(branch, "alignment.yaml").decode()
    assert parse_config(pushed).training.dataset.snapshot == decision.snapshot
    assert ref.number == pull["number"]


def test_cli_retrain_check_and_open(tmp_path, monkeypatch):
    import typer

    from alignment_ci.commands import retrain as retrain_cmd

    config_path = _repo(tmp_path, [("b1", 10)])
    app = typer.Typer()
    app.add_typer(retrain_cmd.app, name="retrain")
    monkeypatch.delenv("ALIGNMENT_CI_FORGE", raising=False)
    runner = CliRunner()
    check = runner.invoke(app, ["retrain", "check", "--config", str(config_path), "--format", "json"])
    assert check.exit_code == 0, check.output
    assert json.loads(check.stdout)["due"] is False and json.loads(check.stdout)["new_labels"] == 30
    opened = runner.invoke(app, ["retrain", "open", "--schedule", "--config", str(config_path), "--format", "json"])
    assert opened.exit_code == 0, opened.output
    data = json.loads(opened.stdout)
    assert data["due"] is True and data["pull_request"]["number"] == 1 and data["pull_request"]["created"] is True


WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "retrain.yml"


def test_retrain_workflow_schedule_least_privilege_and_pinned():
    import re

    data = yaml.safe_load(WORKFLOW.read_text())
    on = data.pop(True, data.get("on"))
    assert on["schedule"] == [{"cron": "17 6 * * 1"}] and "workflow_dispatch" in on
    assert data["permissions"] == {}
    (job,) = data["jobs"].values()
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert job["environment"] == "retrain"  # the only place its secrets are read
    uses = [s["uses"] for s in job["steps"] if "uses" in s]
    assert all(u == "./" or re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses)
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert "alignment-ci retrain open" in runs and "github.event" not in runs and "inputs." not in runs


def test_retrain_workflow_is_actionlint_clean(actionlint):
    code, findings = actionlint(str(WORKFLOW))
    assert findings == [] and code == 0
