"""`alignment-ci init`: what it scaffolds, that it is idempotent and never overwrites, and
that the scaffolded workflows pin the released action and lint clean."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from alignment_ci.config import load_config
from alignment_ci.scaffold import WORKFLOWS, init_repository, pin_workflow

from .test_cli import run_cli
from .test_workflows import actionlint  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]


def _init(*args: str, cwd: Path) -> tuple[int, str, str]:
    proc = run_cli("init", *args, cwd=cwd)
    return proc.returncode, proc.stdout, proc.stderr


def test_init_scaffolds_a_repository(tmp_path):
    code, stdout, stderr = _init("repo", "--action", "acme-ai/alignment-ci", "--ref", "v1.2.3", cwd=tmp_path)
    assert code == 0, stderr
    repo = tmp_path / "repo"
    for rel in ("alignment.yaml", "gates/test_over_refusal.py", "datasets_manifest/eval/red_team.yaml",
                "datasets_manifest/eval/README.md", "datasets_manifest/batches/.gitkeep", ".gitignore", ".gitattributes"):
        assert (repo / rel).is_file(), rel
    assert sorted(p.name for p in (repo / ".github" / "workflows").iterdir()) == sorted(WORKFLOWS)
    config = load_config(repo / "alignment.yaml")
    assert config.taxonomy.names == ["helpfulness", "factual_accuracy", "safety", "style_tone", "instruction_following"]
    assert config.stores.commit_batches is True
    assert config.project == "repo"
    text = (repo / "alignment.yaml").read_text()
    assert text.count("\n#") >= 5  # a commented file, not a dump
    assert ".alignment-ci/" in (repo / ".gitignore").read_text().splitlines()
    assert "datasets_manifest/blobs/** filter=lfs" in (repo / ".gitattributes").read_text()
    for step in ("Secrets", "Repository variables", "environments", "Branch protection", "alignment-ci/gates"):
        assert step in stdout, step


def test_workflows_use_the_released_action_pinned_to_the_ref(tmp_path):
    init_repository(tmp_path, action_repository="acme-ai/alignment-ci", ref="0123456789abcdef0123456789abcdef01234567")
    for name in WORKFLOWS:
        text = (tmp_path / ".github" / "workflows" / name).read_text()
        assert "uses: ./" not in text, name
        assert "pyproject.toml" not in text, name
        assert "uses: acme-ai/alignment-ci@0123456789abcdef0123456789abcdef01234567" in text, name
        yaml.safe_load(text)


def test_taxonomy_from_flags(tmp_path):
    code, _, stderr = _init(".", "-d", "helpfulness", "-d", "code_correctness", "-d", "safety",
                            "--default-dimension", "code_correctness", cwd=tmp_path)
    assert code == 0, stderr
    config = load_config(tmp_path / "alignment.yaml")
    assert config.taxonomy.names == ["helpfulness", "code_correctness", "safety"]
    assert config.taxonomy.default_dimension == "code_correctness"
    assert config.taxonomy.get("safety").critical is True  # a known name keeps its built-in definition
    assert config.taxonomy.get("code_correctness").definition.startswith("TODO")


def test_too_few_dimensions_is_a_usage_error(tmp_path):
    code, _, stderr = _init(".", "-d", "helpfulness", cwd=tmp_path)
    assert code == 2 and "at least 3" in stderr
    assert not (tmp_path / "alignment.yaml").exists()


def test_init_is_idempotent_and_never_overwrites(tmp_path):
    first = init_repository(tmp_path)
    assert first.ok and "alignment.yaml" in first.written
    second = init_repository(tmp_path)
    assert second.written == [] and second.conflicts == []
    gate = tmp_path / "gates" / "test_over_refusal.py"
    gate.write_text("# my own gate\n")
    (tmp_path / ".gitignore").write_text("secrets.env\n")
    code, stdout, stderr = _init(".", "--format", "json", cwd=tmp_path)
    assert code == 1
    data = json.loads(stdout)
    assert data["conflicts"] == ["gates/test_over_refusal.py"]
    assert gate.read_text() == "# my own gate\n"
    lines = (tmp_path / ".gitignore").read_text().splitlines()
    assert lines[0] == "secrets.env" and ".alignment-ci/" in lines  # merged, not replaced
    code, _, stderr = _init(".", "--force", cwd=tmp_path)
    assert code == 0, stderr
    assert "@pytest.mark.gate(\"over_refusal\")" in gate.read_text()


@pytest.mark.parametrize("name", ["alignment-pr.yml", "rollout.yml", "retrain.yml"])
def test_workflow_templates_are_this_repositorys_workflows(name):
    shipped = ROOT / "alignment_ci" / "scaffold" / "workflows" / name
    assert shipped.read_text() == (ROOT / ".github" / "workflows" / name).read_text(), (
        f"cp .github/workflows/{name} alignment_ci/scaffold/workflows/{name}")


def test_red_team_template_is_this_repositorys_set():
    shipped = ROOT / "alignment_ci" / "scaffold" / "files" / "datasets_manifest" / "eval" / "red_team.yaml"
    assert shipped.read_text() == (ROOT / "datasets_manifest" / "eval" / "red_team.yaml").read_text()


def test_pin_workflow_drops_only_the_local_action_and_pip_key():
    text = "steps:\n  - name: x\n    uses: ./\n    with:\n      python-version: '3.11'\n      cache-dependency-path: pyproject.toml\n"
    assert pin_workflow(text, "o/a@v1") == "steps:\n  - name: x\n    uses: o/a@v1\n    with:\n      python-version: '3.11'\n"


@pytest.mark.parametrize("name", WORKFLOWS)
def test_scaffolded_workflow_is_actionlint_clean(actionlint, tmp_path_factory, name):
    repo = tmp_path_factory.mktemp("lint")
    init_repository(repo, action_repository="acme-ai/alignment-ci", ref="v0.1.0")
    code, findings = actionlint(str(repo / ".github" / "workflows" / name))
    assert findings == [] and code == 0


def test_scaffolded_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        (tmp_path / ".gitignore").write_text("build/\n")
        (tmp_path / ".gitignore").chmod(0o640)
        init_repository(tmp_path, action_repository="acme-ai/alignment-ci", ref="v0.1.0")
    finally:
        os.umask(old)
    assert (tmp_path / "alignment.yaml").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    assert (tmp_path / ".github" / "workflows" / "rollout.yml").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / ".gitignore").stat().st_mode & 0o777 == 0o640  # a file it merged into keeps its mode
    assert (tmp_path / ".gitignore").read_text().startswith("build/\n")


def test_the_config_reads_as_a_person_wrote_it(tmp_path):
    init_repository(tmp_path, action_repository="acme-ai/alignment-ci", ref="v0.1.0")
    text = (tmp_path / "alignment.yaml").read_text()
    assert "the user's actual intent" in text and "\\u0027" not in text
    assert load_config(tmp_path / "alignment.yaml").taxonomy.get("helpfulness").definition.startswith("Does the answer solve the user's")
