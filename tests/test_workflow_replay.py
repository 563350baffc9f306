"""Replay the workflows' `run:` steps for real (tests/workflow_replay.py) on embedded defaults.

The workspace is a git repository like an alignment repo: main holds a first batch whose
candidate (reward → sft → dpo) is the production baseline; a vendor branch adds one batch
manifest (the batch ingested with the real CLI into the workspace's local store), then the
reviewed exclusion of its flagged raters. The PR workflow runs with the local forge and the
local training backend (repository variables), the tiny model and two training steps per
stage (alignment.yaml of the workspace). The replay checks the plumbing, not model quality
(tests/test_gating_gates.py does that on trained models), so the workspace's gate thresholds
are lenient. A renamed command or flag fails these tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from .workflow_replay import (
    ReplayError,
    Status,
    WorkflowReplay,
    evaluate,
    evaluate_if,
    parse_env_file,
    pull_request_event,
    push_event,
    replay_action,
)

ROOT = Path(__file__).resolve().parents[1]
PR_WORKFLOW = ROOT / ".github" / "workflows" / "alignment-pr.yml"
ROLLOUT_WORKFLOW = ROOT / ".github" / "workflows" / "rollout.yml"
BIN_DIR = str(Path(sys.executable).parent)  # the environment running the tests has alignment-ci
REPOSITORY = "acme-ai/alignment-repo"
BATCH = "acme-2026-11-101"
BASE_BATCH = "acme-2026-11-100"
PR_VARS = {"ALIGNMENT_CI_FORGE": "local", "ALIGNMENT_CI_TRAIN_BACKEND": "local"}
REPLAY_CONFIG = """\
# The replay's alignment.yaml: tiny model, two training steps per stage, a quick bootstrap,
# lenient model thresholds (two steps train nothing; the gates must run, not pass on merit).
project: workflow-replay
training:
  reward: {max_steps: 2}
  sft: {max_steps: 2}
  dpo: {max_steps: 2}
quality:
  bootstrap_samples: 20
gates:
  inconclusive_blocks: false
  gold: {min_accuracy: 0.0}
  calibration: {max_ece: 1.0}
  regression: {margin: 0.49}
  reward_hacking: {max_length_drop: 1.0, max_repetition_drop: 1.0}
  safety: {min_pass_rate: 0.0, banned_categories: [], require_policy_health: false, degenerate_is_safe: true}
  # the replay's policies train for a few steps and barely speak: the policy gates run, never block
  policy_winrate: {min_win_rate: 0.01}
  policy_health: {max_empty_share: 1.0, max_repeated_ngram_share: 1.0, min_distinct_2_ratio: 0.0, max_kl_per_token: 100.0}
rollout:
  stages:
    - {percent: 50, min_events: 100, min_minutes: 0}
    - {percent: 100, min_events: 0, min_minutes: 0, manual_approval: true}
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIGNMENT_CI_", "GITHUB_"))}
    env.update({"PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}", "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1", "GIT_AUTHOR_NAME": "Vendor Bot", "GIT_AUTHOR_EMAIL": "bot@example.com",
                "GIT_COMMITTER_NAME": "Vendor Bot", "GIT_COMMITTER_EMAIL": "bot@example.com"})
    return env


def _git(ws: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=ws, check=True, capture_output=True, text=True, env=_env()).stdout.strip()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> dict:
    """An alignment repo: main (gates, config) and a vendor branch adding one batch manifest."""
    from alignment_ci.jsonl import write_jsonl
    from alignment_ci.synth import make_pairwise_batch

    ws = tmp_path_factory.mktemp("pristine") / "repo"
    ws.mkdir()
    shutil.copytree(ROOT / "gates", ws / "gates", ignore=shutil.ignore_patterns("__pycache__"))
    (ws / "datasets_manifest").mkdir()
    if (ROOT / "datasets_manifest" / "eval").is_dir():
        shutil.copytree(ROOT / "datasets_manifest" / "eval", ws / "datasets_manifest" / "eval")
    (ws / "datasets_manifest" / ".gitkeep").write_text("", encoding="utf-8")
    (ws / "alignment.yaml").write_text(REPLAY_CONFIG, encoding="utf-8")
    (ws / ".gitignore").write_text(".alignment-ci/\nincoming/\n", encoding="utf-8")

    def cli(*args: str) -> str:
        return subprocess.run(["alignment-ci", *args], cwd=ws, env=_env(), check=True, capture_output=True,
                              text=True).stdout

    planted = ["--rater", "r07", "--rater", "r08", "--rater", "r09", "--rater", "r10"]
    _git(ws, "init", "-q", "-b", "main")
    # main: a first batch, its candidate trained and made the production baseline
    write_jsonl(make_pairwise_batch(batch_id=BASE_BATCH, n_items=80, seed=5), ws / "incoming" / f"{BASE_BATCH}.jsonl")
    cli("ingest", f"incoming/{BASE_BATCH}.jsonl", "--vendor", "acme")
    cli("manifest", "exclude-raters", BASE_BATCH, *planted, "--reason", "flagged in review")
    baseline = json.loads(cli("train", "--backend", "local", "--format", "json"))["candidate_id"]
    cli("baseline", "set", baseline, "--reason", "first model")
    _git(ws, "add", "-A")
    _git(ws, "commit", "-qm", "alignment repo")
    base = _git(ws, "rev-parse", "HEAD")
    # the vendor's pull request: the batch, then the reviewed exclusion of its flagged raters
    _git(ws, "checkout", "-qb", f"acme/{BATCH}")
    write_jsonl(make_pairwise_batch(batch_id=BATCH, n_items=80, seed=0), ws / "incoming" / f"{BATCH}.jsonl")
    cli("ingest", f"incoming/{BATCH}.jsonl", "--vendor", "acme")
    _git(ws, "add", "-A")
    _git(ws, "commit", "-qm", f"Label batch {BATCH} from acme")
    cli("manifest", "exclude-raters", BATCH, *planted, "--reason", "flagged by the label_quality gate")
    _git(ws, "commit", "-qam", f"Exclude the raters label quality flagged in {BATCH}")
    return {"ws": ws, "base": base, "head": _git(ws, "rev-parse", "HEAD"), "baseline": baseline}


def _copy(pristine: dict, tmp_path: Path) -> Path:
    ws = tmp_path / "repo"
    shutil.copytree(pristine["ws"], ws, symlinks=True)
    return ws


def _pr_event(base: str, head: str, *, fork: bool = False) -> dict:
    return pull_request_event(repository=REPOSITORY, number=7, head_sha=head, base_sha=base, head_ref=f"acme/{BATCH}",
                              head_repository="mallory/alignment-repo" if fork else None)


@pytest.fixture(scope="module")
def pr_run(pristine, tmp_path_factory) -> dict:
    ws = _copy(pristine, tmp_path_factory.mktemp("pr"))
    replay = WorkflowReplay(PR_WORKFLOW, ws, env=_env(), vars=PR_VARS, repository=REPOSITORY)
    result = replay.run("pull_request", _pr_event(pristine["base"], pristine["head"]))
    return {**pristine, "ws": ws, "replay": replay, "result": result}


# --------------------------------------------------------------------------- the PR workflow


@pytest.mark.slow  # the PR replay fixture runs the whole workflow (minutes)
def test_pr_replay_runs_every_job_and_passes(pr_run):
    r = pr_run["result"]
    assert {name: job.result for name, job in r.jobs.items()} == {
        "validate": "success", "quality": "success", "train": "success", "gate": "success", "report": "success",
    }, r.describe()
    assert r["validate"].environment == "training" and r["train"].environment == "training" and r["gate"].environment == "training"
    assert r["quality"].environment is None and r["report"].environment is None


@pytest.mark.slow  # the PR replay fixture runs the whole workflow (minutes)
def test_validate_outputs_only_the_changed_batch(pr_run):
    out = pr_run["result"]["validate"].outputs
    assert out["count"] == "1"
    assert json.loads(out["batches"]) == [BATCH]
    # multi-line output (name<<DELIMITER) carried through GITHUB_OUTPUT into the job output
    assert out["summary"].splitlines()[0] == "| batch | rows | accepted | errors | warnings |"
    assert out["summary"].splitlines()[2].startswith(f"| {BATCH} | 400 | true | 0 |")
    fetched = pr_run["ws"] / ".alignment-ci" / "out" / "batches" / f"{BATCH}.parquet"
    manifest = _git(pr_run["ws"], "show", f"HEAD:datasets_manifest/batches/acme/{BATCH}.yaml")
    import hashlib

    assert hashlib.sha256(fetched.read_bytes()).hexdigest() in manifest


@pytest.mark.slow  # the PR replay fixture runs the whole workflow (minutes)
def test_quality_reports_the_planted_raters(pr_run):
    out = pr_run["result"]["quality"].outputs
    health = json.loads((pr_run["ws"] / ".alignment-ci" / "out" / "batches" / f"{BATCH}.health.json").read_text())
    assert out["verdict"] == health["verdict"]
    assert int(out["flagged"]) == len(health["flagged_raters"]) >= 1
    assert "flagged" in pr_run["result"]["quality"].summary.lower()


@pytest.mark.slow  # the PR replay fixture runs the whole workflow (minutes)
def test_train_records_the_pipeline_as_one_candidate_and_gate_judges_it(pr_run):
    train = pr_run["result"]["train"]
    assert train.outputs["cached"] == "false"
    assert train.step("wait").outcome == "skipped"  # local backend: nothing detached to wait for
    out = pr_run["ws"] / ".alignment-ci" / "out"
    candidate = json.loads((out / "train" / "candidate.json").read_text())
    assert train.outputs["candidate"] == candidate["candidate_id"] != pr_run["baseline"]
    assert (candidate["reward_model"], candidate["reference"], candidate["policy"]) == ("reward", "sft", "dpo")
    runs = {s: json.loads((out / "train" / f"{s}.json").read_text())["run_key"] for s in ("reward", "sft", "dpo")}
    assert json.loads(train.outputs["runs"]) == runs
    gates = json.loads((out / "gates" / "gate.json").read_text())
    assert pr_run["result"]["gate"].outputs["verdict"] == gates["verdict"] == "pass"
    # the whole candidate against the production baseline, no variable set
    assert gates["candidate"]["candidate_id"] == candidate["candidate_id"]
    assert gates["candidate"]["reward_model"] and gates["candidate"]["policy"] and gates["candidate"]["reference"]
    assert gates["baseline"]["candidate_id"] == pr_run["baseline"]
    assert gates["baseline"]["source"].startswith("production baseline #1")


# Gates the PR workflow must run for the candidate (an outcome other than skipped).
MUST_RUN = ("gold", "calibration", "regression", "safety", "policy_health", "policy_winrate", "label_quality")


@pytest.mark.slow  # the PR replay fixture runs the whole workflow (minutes)
def test_the_decisive_gates_ran_for_the_candidate(pr_run):
    gates = json.loads((pr_run["ws"] / ".alignment-ci" / "out" / "gates" / "gate.json").read_text())
    outcomes: dict[str, list[str]] = {}
    for g in gates["gates"]:
        outcomes.setdefault(g["gate"].split("/")[0], []).append(g["outcome"])
    for name in MUST_RUN:
        assert name in outcomes and "skipped" not in outcomes[name], (name, outcomes.get(name))
    label = next(g for g in gates["gates"] if g["gate"] == f"label_quality/{BATCH}")
    assert label["outcome"] == "pass" and label["details"]["excluded_raters"] == ["r07", "r08", "r09", "r10"]
    regression = next(g for g in gates["gates"] if g["gate"] == "regression/all")
    assert regression["details"]["mode"] == "reward_model" and regression["details"]["n"] >= 20


@pytest.mark.slow  # the PR replay fixture runs the whole workflow (minutes)
def test_report_is_published_to_the_local_forge_with_the_status(pr_run):
    ws, head = pr_run["ws"], pr_run["head"]
    report = pr_run["result"]["report"]
    assert report.outputs["verdict"] == "pass"
    forge = ws / ".alignment-ci" / "forge"
    statuses = json.loads((forge / "statuses" / f"{head}.json").read_text())
    assert statuses["statuses"]["alignment-ci/gates"]["state"] == "success"
    comment = (forge / "comments" / "7" / "report.md").read_text()
    rendered = (ws / ".alignment-ci" / "out" / "report" / "report.md").read_text()
    assert rendered.strip() in comment
    # the step summary carries the report's summary (report honours GITHUB_STEP_SUMMARY)
    summary = (ws / ".alignment-ci" / "out" / "report" / "summary.md").read_text()
    assert summary.strip() and summary.strip() in report.summary
    assert report.step("Fail when a stage failed").outcome == "skipped"


@pytest.mark.slow
def test_rerun_hits_the_training_cache_and_a_tighter_gate_fails(pr_run):
    """A new commit on the PR makes inconclusive gates block: training is a cache hit, the
    gate job fails, report still runs, updates the sticky comment and sets `failure`."""
    ws = pr_run["ws"]
    text = (ws / "alignment.yaml").read_text().replace("inconclusive_blocks: false", "inconclusive_blocks: true")
    (ws / "alignment.yaml").write_text(text)
    _git(ws, "commit", "-qam", "Inconclusive gates block")
    head = _git(ws, "rev-parse", "HEAD")
    r = pr_run["replay"].run("pull_request", _pr_event(pr_run["base"], head), run_id=2)
    assert r["train"].outputs["cached"] == "true", r.describe()
    assert r["train"].outputs["candidate"] == pr_run["result"]["train"].outputs["candidate"]
    assert r["gate"].result == "failure" and r["gate"].outputs["verdict"] == "fail"
    assert r["report"].outputs["verdict"] == "fail"
    assert r["report"].step("report").outcome == "success"
    assert r["report"].step("Fail when a stage failed").outcome == "failure"
    forge = ws / ".alignment-ci" / "forge"
    assert json.loads((forge / "statuses" / f"{head}.json").read_text())["statuses"]["alignment-ci/gates"]["state"] == "failure"
    index = json.loads((forge / "comments" / "index.json").read_text())
    assert index["7/report"]["id"] == 1 and index["7/report"]["revisions"] == 2


@pytest.mark.slow  # the `pristine` repository fixture ingests and trains through the CLI (about 35 s)
def test_fork_pull_request_skips_the_jobs_with_secrets(pristine, tmp_path):
    ws = _copy(pristine, tmp_path)
    r = WorkflowReplay(PR_WORKFLOW, ws, env=_env(), vars=PR_VARS, repository=REPOSITORY).run(
        "pull_request", _pr_event(pristine["base"], pristine["head"], fork=True))
    assert {n: j.result for n, j in r.jobs.items()} == {
        "validate": "skipped", "quality": "skipped", "train": "skipped", "gate": "skipped", "report": "success",
    }, r.describe()
    assert "Pull request from a fork" in r["report"].summary
    assert r["report"].outputs["verdict"] == "not run"
    assert not (ws / ".alignment-ci" / "forge" / "statuses").exists()  # nothing published


@pytest.mark.slow  # the `pristine` repository fixture ingests and trains through the CLI (about 35 s)
def test_a_renamed_flag_fails_the_replay(pristine, tmp_path):
    ws = _copy(pristine, tmp_path)
    broken = tmp_path / "alignment-pr.yml"
    text = PR_WORKFLOW.read_text()
    assert text.count('--fetch "$OUT/batches"') == 1
    broken.write_text(text.replace('--fetch "$OUT/batches"', '--fetch-dir "$OUT/batches"'))
    r = WorkflowReplay(broken, ws, env=_env(), vars=PR_VARS, repository=REPOSITORY).run(
        "pull_request", _pr_event(pristine["base"], pristine["head"]))
    changed = r["validate"].step("changed")
    assert changed.outcome == "failure" and changed.exit_code == 2
    assert "No such option" in changed.log
    assert r["validate"].step("validate").outcome == "skipped"
    assert [r[j].result for j in ("validate", "quality", "train", "gate", "report")] == ["failure", "skipped", "skipped", "skipped", "failure"]
    assert r["report"].step("report").outcome == "success"  # report always runs
    assert [s.id or s.name for s in r.failed_steps()] == ["changed", "Fail when a stage failed"]


# ------------------------------------------------------------------------ the rollout workflow


def _deliver_events(job: str, step_id: str | None, workspace: Path, env: dict[str, str]) -> None:
    """Production traffic for the canary's watch loop: simulated, after the rollout started."""
    if (job, step_id) != ("canary", "watch"):
        return
    from alignment_ci.rollout.simulator import TrafficSimulator, healthy

    start = json.loads((workspace / ".alignment-ci" / "out" / "rollout" / "start.json").read_text())
    time.sleep(1.0)  # events after the routing table was applied
    now = datetime.now(timezone.utc)
    sim = TrafficSimulator(healthy(), start["baseline"], start["candidate"], events_per_minute=60000, seed=1)
    events = sim.emit(now - timedelta(seconds=0.9), now, start["percent"])
    folder = workspace / ".alignment-ci" / "events"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "events.jsonl", "w", encoding="utf-8") as fh:
        for event in events:
            fh.write(json.dumps(event, default=str) + "\n")


@pytest.mark.slow
def test_rollout_replay_canary_then_production_with_deployment_statuses(pr_run):
    ws = pr_run["ws"]
    origin = ws.parent / "origin.git"  # the remote that keeps the state branch (no bucket)
    _git(ws.parent, "init", "-q", "--bare", "-b", "main", str(origin))
    _git(ws, "remote", "add", "origin", str(origin))
    _git(ws, "checkout", "-q", "main")
    before = _git(ws, "rev-parse", "HEAD")
    _git(ws, "merge", "-q", "--no-ff", "-m", "Merge pull request #7", f"acme/{BATCH}")
    after = _git(ws, "rev-parse", "HEAD")
    replay = WorkflowReplay(ROLLOUT_WORKFLOW, ws, env=_env(), repository=REPOSITORY, actor="release-manager",
                            before_step=_deliver_events, vars={
                                "ALIGNMENT_CI_FORGE": "local", "ALIGNMENT_CI_TRAIN_BACKEND": "local",
                                "ALIGNMENT_CI_STEP_INTERVAL_S": "0", "ALIGNMENT_CI_MAX_STEPS": "3"})
    r = replay.run("push", push_event(repository=REPOSITORY, before=before, after=after))
    assert {n: j.result for n, j in r.jobs.items()} == {
        "prepare": "success", "canary": "success", "production": "success", "control": "skipped"}, r.describe()
    record = json.loads((ws / ".alignment-ci" / "out" / "rollout" / "candidate.json").read_text())
    assert record["cached"] is True  # the PR trained it
    assert r["prepare"].outputs["candidate"] == record["runs"]["dpo"]["artifact"]  # its policy is rolled out
    baseline = json.loads((ws / ".alignment-ci" / "out" / "rollout" / "baseline.json").read_text())["baseline"]
    assert r["prepare"].outputs["baseline"] == baseline["candidate"]["runs"]["dpo"]["artifact"]
    assert r["prepare"].outputs["rollout_id"] == f"main-{after[:12]}"
    assert (r["canary"].environment, r["production"].environment) == ("canary", "production")
    assert r["canary"].outputs == {"status": "paused", "percent": "50"}
    assert r["production"].outputs["status"] == "completed"
    deployments = sorted((ws / ".alignment-ci" / "forge" / "deployments").glob("*.json"))
    states = [s["state"] for d in deployments for s in json.loads(d.read_text())["statuses"]]
    assert states == ["in_progress", "in_progress", "success"]
    # reaching 100% made the PR's candidate the production baseline
    shown = json.loads(subprocess.run(["alignment-ci", "baseline", "show", "--format", "json"], cwd=ws, env=_env(),
                                      check=True, capture_output=True, text=True).stdout)["baseline"]
    assert (shown["candidate_id"], shown["set_by"]) == (record["candidate_id"], "rollout")

    # Without a bucket, the state outlives the jobs on the remote's branch alignment-ci/state:
    # the decisions up to production, the new baseline and the candidate record it names.
    state = _git(origin, "ls-tree", "-r", "--name-only", "alignment-ci/state").split()
    rollout_id = f"main-{after[:12]}"
    assert f"records/rollout/{rollout_id}-000000.json" in state and f"records/candidates/{record['candidate_id']}.json" in state
    assert any(p.startswith("records/baselines/") for p in state) and not any(p.startswith("records/runs/") for p in state)
    runner = ws.parent / "next-runner"  # a new job's empty store, reading only the branch
    runner.mkdir()
    shutil.copy(ws / "alignment.yaml", runner / "alignment.yaml")
    _git(runner, "init", "-q", "-b", "main")
    _git(runner, "remote", "add", "origin", str(origin))

    def on_runner(*args: str) -> dict:
        return json.loads(subprocess.run(["alignment-ci", *args, "--format", "json"], cwd=runner, env=_env(), check=True,
                                         capture_output=True, text=True).stdout)

    on_runner("state", "pull")
    assert on_runner("rollout", "status", rollout_id)["status"] == "completed"
    assert on_runner("baseline", "show")["baseline"]["candidate_id"] == record["candidate_id"]

    control = replay.run("workflow_dispatch", {}, inputs={"action": "resume", "rollout_id": rollout_id}, run_id=3)
    assert [j.result for j in control.jobs.values()] == ["skipped", "skipped", "skipped", "success"], control.describe()
    assert control["control"].environment == "canary"
    assert control["control"].outputs["status"] == "completed"


# ------------------------------------------------------------------------- the composite action


@pytest.mark.slow  # the `pristine` repository fixture ingests and trains through the CLI (about 35 s)
def test_composite_action_runs_a_command_and_returns_its_json(pristine, tmp_path):
    from alignment_ci.config import load_config
    from alignment_ci.data.manifest import snapshot

    ws = _copy(pristine, tmp_path)
    job = replay_action(ROOT / "action.yml", ws, {"command": "manifest snapshot", "install": "false"}, env=_env())
    assert job.result == "success", "\n".join(s.log for s in job.steps)
    assert [s.outcome for s in job.steps] == ["skipped", "skipped", "success"]
    assert job.outputs["exit-code"] == "0"
    assert json.loads(job.outputs["json"])["snapshot"] == snapshot(load_config(ws / "alignment.yaml"))["snapshot"]

    failed = replay_action(ROOT / "action.yml", ws, {"command": "validate missing.jsonl", "install": "false"}, env=_env())
    assert failed.result == "failure" and failed.outputs["exit-code"] == "2"


# ---------------------------------------------------------------------------- the harness itself


def test_outputs_file_parses_multiline_values_like_the_runner():
    text = "count=2\nbatches=[\"a\",\"b\"]\nsummary<<EOF_1f\n| a |\n\n| b |\nEOF_1f\nempty=\n"
    assert parse_env_file(text) == {"count": "2", "batches": '["a","b"]', "summary": "| a |\n\n| b |", "empty": ""}
    with pytest.raises(ReplayError, match="no closing delimiter"):
        parse_env_file("x<<END\nnever closed\n")


def test_expressions_follow_github_semantics():
    ctx = {"steps": {"s": {"outputs": {"count": "0", "n": "3"}}}, "needs": {"a": {"result": "success"}, "b": {"result": "failure"}},
           "github": {"event_name": "pull_request"}, "vars": {}, "inputs": {}}
    assert evaluate("steps.s.outputs.count != '0'", ctx) is False
    assert evaluate("steps.s.outputs.n == 3", ctx) is True  # loose: '3' == 3
    assert evaluate("github.event_name == 'PULL_REQUEST'", ctx) is True  # strings compare ignoring case
    assert evaluate("vars.MISSING || 'modal'", ctx) == "modal"
    assert evaluate("contains(needs.*.result, 'failure')", ctx) is True
    assert evaluate("steps.missing.outputs.x", ctx) is None
    assert evaluate_if("needs.a.result == 'success'", ctx, Status(failed=True, all_succeeded=False)) is False  # success() implied
    assert evaluate_if("${{ always() }}", ctx, Status(failed=True, all_succeeded=False)) is True
    assert evaluate_if("!cancelled() && needs.a.result == 'success'", ctx, Status(failed=True, all_succeeded=False)) is True
    with pytest.raises(ReplayError, match="unknown context"):
        evaluate("secret.TOKEN", ctx)


def test_a_failed_step_skips_the_rest_but_not_failure_steps(tmp_path):
    wf = tmp_path / "wf.yml"
    wf.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    outputs:\n      x: ${{ steps.one.outputs.x }}\n    steps:\n"
        "      - id: one\n        run: echo 'x=1' >> \"$GITHUB_OUTPUT\"; echo \"FROM_ENV=yes\" >> \"$GITHUB_ENV\"\n"
        "      - id: two\n        run: test \"$FROM_ENV\" = yes && false\n"
        "      - id: three\n        run: echo never\n"
        "      - id: four\n        if: failure()\n        run: echo cleanup\n"
        "  b:\n    needs: a\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo never\n"
    )
    r = WorkflowReplay(wf, tmp_path, env=_env()).run("push", push_event(repository=REPOSITORY, before="0" * 40, after="1" * 40))
    assert [s.outcome for s in r["a"].steps] == ["success", "failure", "skipped", "success"]
    assert r["a"].result == "failure" and r["a"].outputs == {"x": "1"}
    assert r["b"].result == "skipped"
