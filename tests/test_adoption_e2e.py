"""Adopting alignment-ci in a new repository, end to end, as docs/adopting.md tells it.

A new git repository in a temporary directory → `alignment-ci init` → a vendor's Label
Studio export imported and ingested on a branch, pushed to the repository's remote and
opened as a batch pull request in the local forge → the scaffolded `alignment-pr.yml`
replayed (tests/workflow_replay.py) in a fresh clone of the remote, so nothing absolute
or uncommitted from the vendor's machine survives → a report published to the forge with
the gates run on the candidate's reward model and policy. Then the pull request is merged
and the scaffolded `rollout.yml` replayed from another fresh clone, with no bucket: the
rollout's state and the new production baseline reach the next runner only through the
remote's branch `alignment-ci/state`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from alignment_ci.forge.local import LocalForge
from alignment_ci.synth import make_pairwise_batch

from .test_workflow_replay import _deliver_events
from .workflow_replay import WorkflowReplay, pull_request_event, push_event

BIN_DIR = str(Path(sys.executable).parent)
REPOSITORY = "acme-ai/alignment"
BATCH = "acme-2026-12-001"
VARS = {"ALIGNMENT_CI_FORGE": "local", "ALIGNMENT_CI_TRAIN_BACKEND": "local", "ALIGNMENT_CI_TRAIN_STAGES": "reward dpo"}

pytestmark = pytest.mark.slow


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIGNMENT_CI_", "GITHUB_"))}
    env.update({"PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}", "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1", "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_AUTHOR_NAME": "Vendor Bot", "GIT_AUTHOR_EMAIL": "bot@example.com",
                "GIT_COMMITTER_NAME": "Vendor Bot", "GIT_COMMITTER_EMAIL": "bot@example.com"})
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout.strip()


def labelstudio_export(rows: list[dict]) -> list[dict]:
    """A Label Studio JSON export (the generated labeling config: one choices control per
    dimension) of synthetic pairwise judgments; gold answers as ground-truth annotations."""
    tasks: dict[str, dict] = {}
    rater_ids = {r: n for n, r in enumerate(sorted({row["rater_id"] for row in rows}), start=11)}
    for row in rows:
        task = tasks.setdefault(row["item_id"], {
            "id": 1000 + len(tasks),
            "data": {k: row[k] for k in ("prompt", "response_a", "response_b", "item_id", "model_a", "model_b",
                                         "sampling_bucket", "sampling_reason")},
            "annotations": [],
        })
        result = [{"type": "choices", "from_name": row["dimension"], "to_name": "prompt",
                   "value": {"choices": [row["choice"]]}}]
        task["annotations"].append({"id": len(task["annotations"]) + 1, "completed_by": rater_ids[row["rater_id"]],
                                    "result": result, "was_cancelled": False, "lead_time": row["time_spent_s"],
                                    "created_at": row["labeled_at"]})
        if row.get("gold_choice") and not any(a.get("ground_truth") for a in task["annotations"]):
            task["annotations"].append({"id": 99, "completed_by": 1, "ground_truth": True, "result": [
                {"type": "choices", "from_name": row["dimension"], "value": {"choices": [row["gold_choice"]]}}]})
    return list(tasks.values())


def _fast(config_path: Path) -> None:
    """What an adopter would tune for CPU runners: few training steps, a short bootstrap."""
    config = yaml.safe_load(config_path.read_text())
    config["training"].update({"reward": {"max_steps": 4}, "sft": {"max_steps": 4}, "dpo": {"max_steps": 4}})
    config["quality"] = {"bootstrap_samples": 20}
    config["rollout"] = {"stages": [{"percent": 50, "min_events": 100, "min_minutes": 0},
                                    {"percent": 100, "min_events": 0, "min_minutes": 0, "manual_approval": True}]}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="module")
def adoption(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("adopt")
    env = _env(tmp)
    origin = tmp / "origin.git"
    _run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp, env)

    # The adopter: a new repository, scaffolded, pushed.
    repo = tmp / "alignment"
    repo.mkdir()
    _run(["git", "init", "-q", "-b", "main"], repo, env)
    init_out = _run(["alignment-ci", "init", ".", "--action", "acme-ai/alignment-ci", "--ref", "v0.1.0"], repo, env)
    _fast(repo / "alignment.yaml")
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "Adopt alignment-ci"], repo, env)
    _run(["git", "remote", "add", "origin", str(origin)], repo, env)
    _run(["git", "push", "-q", "origin", "main"], repo, env)
    base = _run(["git", "rev-parse", "HEAD"], repo, env)

    # The vendor's batch: Label Studio export → canonical rows → ingest → branch → pull request.
    branch = f"acme/{BATCH}"
    _run(["git", "checkout", "-qb", branch], repo, env)
    export = tmp / "labelstudio-export.json"
    export.write_text(json.dumps(labelstudio_export(make_pairwise_batch(batch_id=BATCH, n_items=80, seed=5))))
    _run(["alignment-ci", "import", "labelstudio", str(export), "--batch-id", BATCH, "--out", f"incoming/{BATCH}.jsonl"],
         repo, env)
    _run(["alignment-ci", "ingest", f"incoming/{BATCH}.jsonl", "--vendor", "acme"], repo, env)
    _run(["git", "add", "datasets_manifest"], repo, env)
    _run(["git", "commit", "-qm", f"Label batch {BATCH} from acme"], repo, env)
    _run(["git", "push", "-q", "origin", branch], repo, env)
    head = _run(["git", "rev-parse", "HEAD"], repo, env)
    changed = _run(["git", "diff", "--name-only", base, head], repo, env).splitlines()

    # CI: a fresh clone of the remote, at the pull request's head.
    ci = tmp / "ci"
    _run(["git", "clone", "-q", "--branch", branch, str(origin), str(ci)], tmp, env)
    forge = LocalForge.for_workspace(ci)
    pr = forge.open_pull_request(branch, "main", f"Label batch {BATCH}", "From acme via Label Studio.",
                                 {p: (ci / p).read_bytes() for p in changed})
    replay = WorkflowReplay(ci / ".github" / "workflows" / "alignment-pr.yml", ci, env=env, vars=VARS,
                            repository=REPOSITORY)
    event = pull_request_event(repository=REPOSITORY, number=pr.number, head_sha=head, base_sha=base, head_ref=branch)
    result = replay.run("pull_request", event)
    return {"repo": repo, "ci": ci, "base": base, "head": head, "pr": pr.number, "changed": changed,
            "result": result, "init_out": init_out, "tmp": tmp}


def test_the_batch_pull_request_carries_the_manifest_and_its_data(adoption):
    changed = adoption["changed"]
    assert f"datasets_manifest/batches/acme/{BATCH}.yaml" in changed
    assert any(p.startswith("datasets_manifest/blobs/") for p in changed), changed
    manifest = (adoption["ci"] / "datasets_manifest" / "batches" / "acme" / f"{BATCH}.yaml").read_text()
    assert str(adoption["tmp"]) not in manifest and "file://" not in manifest


def test_the_scaffolded_workflow_runs_every_job_in_a_fresh_clone(adoption):
    r = adoption["result"]
    jobs = {name: job.result for name, job in r.jobs.items()}
    assert jobs["validate"] == "success" and jobs["quality"] == "success" and jobs["train"] == "success", r.describe()
    assert jobs["gate"] in ("success", "failure"), r.describe()  # failure: a blocking gate (the verdict is the report's)
    assert r["report"].step("report").outcome == "success", r.describe()
    assert r["validate"].outputs["count"] == "1"
    for workflow in (adoption["ci"] / ".github" / "workflows").glob("*.yml"):
        assert "uses: ./" not in workflow.read_text(), workflow.name


def _gates(adoption) -> dict[str, dict]:
    gates = json.loads((adoption["ci"] / ".alignment-ci" / "out" / "gates" / "gates.json").read_text())
    return {g["gate"].split("/")[0].split("[")[0]: g for g in gates["gates"]}


def test_the_report_is_published_with_the_gates_on_the_policy(adoption):
    ci, head, pr = adoption["ci"], adoption["head"], adoption["pr"]
    forge = ci / ".alignment-ci" / "forge"
    status = json.loads((forge / "statuses" / f"{head}.json").read_text())["statuses"]["alignment-ci/gates"]
    assert status["state"] in ("success", "failure")
    comment = (forge / "comments" / str(pr) / "report.md").read_text()
    assert BATCH in comment
    by_gate = _gates(adoption)
    # The policy answered the red-team set that init shipped …
    assert by_gate["safety"]["outcome"] != "skipped", by_gate["safety"]
    assert "no policy" not in by_gate["safety"]["reason"] and "no such file" not in by_gate["safety"]["reason"]
    # … the getting-started store keeps no baseline models, so (as init's config says) the
    # regression gate passes as a first model, saying so …
    assert by_gate["regression"]["outcome"] == "pass" and "first model" in by_gate["regression"]["reason"]
    assert by_gate["policy_winrate"]["blocking"] is False  # no baseline policy: reported, not blocking
    # … and the example custom gate from init ran on it too.
    assert "over_refusal" in by_gate and by_gate["over_refusal"]["outcome"] in ("pass", "fail"), by_gate.get("over_refusal")


def test_the_gates_judge_the_candidates_reward_model(adoption):
    gold = _gates(adoption)["gold"]
    # The candidate's reward model scored the batch's gold pairs (a small batch may leave the
    # verdict inconclusive on too few pairs, but the accuracy was measured on the model).
    assert "no reward model" not in gold["reason"], gold
    assert gold["reason"].startswith("gold pairwise accuracy") and gold.get("value") is not None, gold


@pytest.fixture(scope="module")
def rollout(adoption) -> dict:
    tmp, repo = adoption["tmp"], adoption["repo"]
    env = _env(tmp)
    origin = tmp / "origin.git"
    # The pull request is merged (its branch protection kept it up to date with main).
    _run(["git", "checkout", "-q", "main"], repo, env)
    _run(["git", "merge", "-q", "--no-ff", "-m", f"Merge pull request #{adoption['pr']}", f"acme/{BATCH}"], repo, env)
    _run(["git", "push", "-q", "origin", "main"], repo, env)
    after = _run(["git", "rev-parse", "HEAD"], repo, env)
    ci = tmp / "rollout-ci"  # the push to main starts rollout.yml on a fresh runner
    _run(["git", "clone", "-q", "--branch", "main", str(origin), str(ci)], tmp, env)
    replay = WorkflowReplay(ci / ".github" / "workflows" / "rollout.yml", ci, env=env, repository=REPOSITORY,
                            actor="release-manager", before_step=_deliver_events, vars={
                                **VARS, "ALIGNMENT_CI_PRODUCTION_MODEL": "model-v0", "ALIGNMENT_CI_STEP_INTERVAL_S": "0",
                                "ALIGNMENT_CI_MAX_STEPS": "3"})
    result = replay.run("push", push_event(repository=REPOSITORY, before=adoption["base"], after=after))
    return {"result": result, "ci": ci, "after": after, "origin": origin, "env": env, "tmp": tmp}


def test_the_merge_rolls_out_to_production_with_the_state_on_the_remote(rollout):
    r, env, origin = rollout["result"], rollout["env"], rollout["origin"]
    assert {n: j.result for n, j in r.jobs.items()} == {
        "prepare": "success", "canary": "success", "production": "success", "control": "skipped"}, r.describe()
    assert r["prepare"].outputs["baseline"] == "model-v0"  # the first rollout starts from the variable
    assert r["canary"].outputs["status"] == "paused" and r["production"].outputs["status"] == "completed"
    rollout_id = f"main-{rollout['after'][:12]}"
    state = _run(["git", "ls-tree", "-r", "--name-only", "alignment-ci/state"], origin, env).splitlines()
    assert f"records/rollout/{rollout_id}-000000.json" in state and any(p.startswith("records/baselines/") for p in state)
    # The next runner has an empty store: everything it knows comes from the state branch.
    runner = rollout["tmp"] / "next-runner"
    _run(["git", "clone", "-q", "--branch", "main", str(origin), str(runner)], rollout["tmp"], env)
    _run(["alignment-ci", "state", "pull"], runner, env)
    status = json.loads(_run(["alignment-ci", "rollout", "status", rollout_id, "--format", "json"], runner, env))
    assert status["status"] == "completed" and status["percent"] == 100
    candidate = json.loads((rollout["ci"] / ".alignment-ci" / "out" / "rollout" / "candidate.json").read_text())
    baseline = json.loads(_run(["alignment-ci", "baseline", "show", "--format", "json"], runner, env))["baseline"]
    assert (baseline["candidate_id"], baseline["set_by"]) == (candidate["candidate_id"], "rollout")
    _run(["alignment-ci", "lineage", "verify"], runner, env)
