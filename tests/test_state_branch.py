"""The getting-started store's state between CI jobs: a git branch of the repository's remote.

Each "job" is a fresh clone of a bare remote with its own empty working store, as on GitHub's
runners; the jobs talk only through `alignment-ci state pull|push`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alignment_ci.config import load_config
from alignment_ci.store import gitstate, open_store
from alignment_ci.store.gitstate import push_state

BIN_DIR = str(Path(sys.executable).parent)
CONFIG = "rollout:\n  stages:\n    - {percent: 10, min_events: 100, min_minutes: 0}\n    - {percent: 100, min_events: 0, min_minutes: 0}\n"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIGNMENT_CI_", "GITHUB_"))}
    env.update({"PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_AUTHOR_NAME": "Release Bot", "GIT_AUTHOR_EMAIL": "bot@example.com",
                "GIT_COMMITTER_NAME": "Release Bot", "GIT_COMMITTER_EMAIL": "bot@example.com"})
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str], code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == code, f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def remote(tmp_path) -> dict:
    env = _env(tmp_path)
    origin = tmp_path / "origin.git"
    _run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp_path, env)
    seed = tmp_path / "seed"
    seed.mkdir()
    _run(["git", "init", "-q", "-b", "main"], seed, env)
    (seed / "alignment.yaml").write_text(CONFIG)
    (seed / ".gitignore").write_text(".alignment-ci/\n")
    _run(["git", "add", "-A"], seed, env)
    _run(["git", "commit", "-qm", "init"], seed, env)
    _run(["git", "remote", "add", "origin", str(origin)], seed, env)
    _run(["git", "push", "-q", "origin", "main"], seed, env)
    jobs = iter(range(1, 100))

    def job() -> Path:
        """A fresh clone: a new runner with an empty working store."""
        path = tmp_path / f"job{next(jobs)}"
        _run(["git", "clone", "-q", str(origin), str(path)], tmp_path, env)
        return path

    return {"origin": origin, "env": env, "job": job}


def _cli(ws: Path, env: dict[str, str], *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    return _run(["alignment-ci", *args], ws, env, code)


def _json(ws: Path, env: dict[str, str], *args: str, code: int = 0) -> dict:
    return json.loads(_cli(ws, env, *args, "--format", "json", code=code).stdout)


def test_a_rollout_started_in_one_job_is_seen_and_changed_in_the_next(remote):
    env, job = remote["env"], remote["job"]
    canary = job()
    assert _json(canary, env, "state", "pull")["head"] is None  # the first rollout: no branch yet
    _cli(canary, env, "rollout", "start", "r1", "--baseline", "model-v1", "--candidate", "model-v2", "--actor", "rm")
    pushed = _json(canary, env, "state", "push", "-m", "rollout r1 started")
    assert "records/rollout/r1-000000.json" in pushed["keys"] and any(k.startswith("records/lineage/") for k in pushed["keys"])
    assert "records/runs" not in " ".join(pushed["keys"])

    production = job()  # another runner: its store is empty until it pulls
    _cli(production, env, "rollout", "status", "r1", code=2)
    assert _json(production, env, "state", "pull")["records"] == pushed["records"]
    status = _json(production, env, "rollout", "status", "r1")
    assert (status["status"], status["percent"]) == ("running", 10)
    _cli(production, env, "rollout", "abort", "r1", "--actor", "rm", "--reason", "thumbs-down up")
    assert _json(production, env, "state", "push")["records"] >= 2  # the decision, its done record, lineage
    _cli(production, env, "lineage", "verify")

    later = job()
    _cli(later, env, "state", "pull")
    assert _json(later, env, "rollout", "status", "r1")["status"] == "aborted"
    _cli(later, env, "lineage", "verify")  # one hash chain across the jobs
    log = _run(["git", "log", "--format=%s", "alignment-ci/state"], remote["origin"], env).stdout.split("\n")
    assert log[:2] == ["alignment-ci state", "rollout r1 started"]


def test_two_jobs_deciding_the_same_step_conflict_and_nothing_is_pushed(remote):
    env, job = remote["env"], remote["job"]
    first = job()
    _cli(first, env, "rollout", "start", "r2", "--baseline", "model-v1", "--candidate", "model-v2")
    _cli(first, env, "state", "push")
    a, b = job(), job()
    for ws in (a, b):
        _cli(ws, env, "state", "pull")
    _cli(a, env, "rollout", "abort", "r2", "--reason", "a says stop")
    _cli(b, env, "rollout", "promote", "r2", "--actor", "rm", "--reason", "b says go")
    _cli(a, env, "state", "push")
    head = _run(["git", "rev-parse", "alignment-ci/state"], remote["origin"], env).stdout
    refused = _cli(b, env, "state", "push", code=1)
    assert "records/rollout/r2-000001.json" in refused.stderr and "nothing was pushed" in refused.stderr
    assert _run(["git", "rev-parse", "alignment-ci/state"], remote["origin"], env).stdout == head
    fresh = job()
    _cli(fresh, env, "state", "pull")
    assert _json(fresh, env, "rollout", "status", "r2")["status"] == "aborted"  # the first push won


def test_a_push_overtaken_by_another_job_retries_and_keeps_both(remote, monkeypatch):
    env, job = remote["env"], remote["job"]
    monkeypatch.setattr(os, "environ", {**os.environ, **{k: env[k] for k in env if k.startswith("GIT_")}})
    mine, theirs = job(), job()
    stores = {}
    for name, ws in (("mine", mine), ("theirs", theirs)):
        stores[name] = open_store(load_config(ws / "alignment.yaml"))
        stores[name].put_record("candidates", f"cand-{name}", {"candidate_id": f"cand-{name}"})
    real_fetch, raced = gitstate._fetch, []

    def fetch_then_race(repo, remote_name, branch):
        head = real_fetch(repo, remote_name, branch)
        if Path(repo) == mine and not raced:  # another job pushes between this job's fetch and its push
            raced.append(push_state(stores["theirs"], theirs))
        return head

    monkeypatch.setattr(gitstate, "_fetch", fetch_then_race)
    result = push_state(stores["mine"], mine)
    assert raced and raced[0].copied == ["records/candidates/cand-theirs.json"]
    assert result.copied == ["records/candidates/cand-mine.json"]
    tree = _run(["git", "ls-tree", "-r", "--name-only", "alignment-ci/state"], remote["origin"], env).stdout.split()
    assert tree == ["records/candidates/cand-mine.json", "records/candidates/cand-theirs.json"]


def test_state_commands_need_a_remote_and_do_nothing_on_s3(tmp_path):
    env = _env(tmp_path)
    _run(["git", "init", "-q", "-b", "main"], tmp_path, env)
    missing = _cli(tmp_path, env, "state", "pull", code=2)
    assert "no remote 'origin'" in missing.stderr
    s3 = _json(tmp_path, {**env, "ALIGNMENT_CI_S3_BUCKET": "models"}, "state", "push")
    assert s3["skipped"] is True and "ALIGNMENT_CI_S3_BUCKET" in s3["reason"]
