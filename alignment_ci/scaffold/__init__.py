"""`alignment-ci init`: scaffold an alignment repository from the templates shipped here.

What a new repository gets (every file from package data, nothing from the network):

* ``alignment.yaml`` — commented; the taxonomy from ``dimensions`` or the default one;
  the getting-started store (``stores.commit_batches``);
* ``.github/workflows/`` — the four workflows (``alignment-pr.yml``, ``rollout.yml``,
  ``retrain.yml``, ``ci.yml``), using the released composite action pinned to a ref
  (``uses: OWNER/alignment-ci@<tag or sha>``), never ``uses: ./``;
* ``gates/test_over_refusal.py`` — one example custom gate;
* ``datasets_manifest/`` — ``eval/red_team.yaml`` (the red-team set) and
  ``eval/README.md`` (where the eval sets live, their format);
* ``.gitignore`` lines and ``.gitattributes`` (Git LFS for committed batch blobs).

Idempotent: a file that already has the content is left alone; a file with other
content is kept (reported as ``conflict``) unless ``force`` is set. ``.gitignore`` and
``.gitattributes`` are merged line by line, never replaced.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .. import __version__
from ..atomic import write_atomic
from ..config import Dimension, Taxonomy, _default_dimensions, parse_config
from ..errors import InputError
from ..monitor.settings import MonitorSettings

DEFAULT_ACTION_REPOSITORY = "alignment-ci/alignment-ci"
"""``OWNER/NAME`` of the published action (``init --action`` names another, e.g. a fork)."""

WORKFLOWS = ("alignment-pr.yml", "rollout.yml", "retrain.yml", "ci.yml")
"""The workflows a repository gets. The first three are this project's own workflows
(``alignment_ci/scaffold/workflows/`` is kept identical to ``.github/workflows/`` by a test);
``ci.yml`` is the adopting repository's own quick check."""

GITIGNORE_LINES = (".alignment-ci/", "incoming/")
GITATTRIBUTES_LINES = ("datasets_manifest/blobs/** filter=lfs diff=lfs merge=lfs -text",)

_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
_LOCAL_ACTION = re.compile(r"^(?P<indent>\s*(?:-\s+)?)uses: \./\s*$")
_PIP_CACHE_KEY = re.compile(r"^\s*cache-dependency-path: pyproject\.toml\s*$")


@dataclass
class InitResult:
    root: Path
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    action: str = ""

    @property
    def ok(self) -> bool:
        return not self.conflicts

    def to_dict(self) -> dict[str, Any]:
        return {"root": str(self.root), "action": self.action, "written": self.written,
                "unchanged": self.unchanged, "conflicts": self.conflicts, "next_steps": next_steps(self)}


def default_ref() -> str:
    """The release tag of the installed alignment-ci (``v0.1.0``)."""
    return f"v{__version__}"


def _package_text(*parts: str) -> str:
    return resources.files(__package__).joinpath(*parts).read_text(encoding="utf-8")


def pin_workflow(text: str, action: str) -> str:
    """A workflow of this repository with ``uses: ./`` pinned to ``action`` (``OWNER/NAME@REF``).

    The set-up action's pip cache keys on ``alignment.yaml`` (its default) instead of this
    project's ``pyproject.toml``, which an adopting repository does not have.
    """
    lines = []
    for line in text.splitlines():
        m = _LOCAL_ACTION.match(line)
        if m:
            line = f"{m.group('indent')}uses: {action}"
        elif _PIP_CACHE_KEY.match(line):
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def taxonomy_for(dimensions: list[str] | None, default_dimension: str | None) -> Taxonomy:
    """The default taxonomy, or one of the named dimensions (definitions to be written)."""
    if not dimensions:
        dims = _default_dimensions()
    else:
        known = {d.name: d for d in _default_dimensions()}
        dims = []
        for name in dimensions:
            if name in known:
                dims.append(known[name])
                continue
            try:
                dims.append(Dimension(name=name, definition=f"TODO: what raters judge for {name}"))
            except ValueError as exc:
                raise InputError(f"--dimension {name!r}: {exc}") from None
    try:
        return Taxonomy(dimensions=dims, default_dimension=default_dimension or dims[0].name)
    except ValueError as exc:
        raise InputError(f"taxonomy: {exc}".replace("\n", " ")) from None


def render_config(project: str, taxonomy: Taxonomy) -> str:
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    # a YAML double-quoted string as a person writes it (jinja's tojson escapes ' as \u0027 for HTML)
    env.filters["quoted"] = lambda text: json.dumps(str(text), ensure_ascii=False)
    text = env.from_string(_package_text("files", "alignment.yaml.j2")).render(
        project=project, default_dimension=taxonomy.default_dimension, dimensions=taxonomy.dimensions,
        signal_dimensions=MonitorSettings().resolved_for(taxonomy.names, taxonomy.default_dimension).signal_dimensions)
    parse_config(text, source="alignment.yaml (template)")  # the template always yields a valid config
    return text


def scaffold_files(*, project: str, taxonomy: Taxonomy, action: str) -> dict[str, str]:
    """Relative path -> content of every file ``init`` writes (the line-merged files aside)."""
    files = {"alignment.yaml": render_config(project, taxonomy)}
    for name in WORKFLOWS:
        files[f".github/workflows/{name}"] = pin_workflow(_package_text("workflows", name), action)
    files["gates/test_over_refusal.py"] = _package_text("files", "gates", "test_over_refusal.py")
    files["datasets_manifest/eval/red_team.yaml"] = _package_text("files", "datasets_manifest", "eval", "red_team.yaml")
    files["datasets_manifest/eval/README.md"] = _package_text("files", "datasets_manifest", "eval", "README.md")
    files["datasets_manifest/batches/.gitkeep"] = ""
    return files


def _merge_lines(path: Path, wanted: tuple[str, ...]) -> bool:
    """Append the missing lines of ``wanted`` to ``path``; True when it changed."""
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    have = {line.strip() for line in existing.splitlines()}
    missing = [line for line in wanted if line not in have]
    if not missing:
        return False
    prefix = existing if not existing or existing.endswith("\n") else existing + "\n"
    block = "# alignment-ci\n" if "# alignment-ci" not in have else ""
    write_atomic(path, prefix + block + "\n".join(missing) + "\n")
    return True


def init_repository(
    root: str | Path = ".",
    *,
    project: str | None = None,
    dimensions: list[str] | None = None,
    default_dimension: str | None = None,
    action_repository: str = DEFAULT_ACTION_REPOSITORY,
    ref: str | None = None,
    force: bool = False,
) -> InitResult:
    """Scaffold an alignment repository in ``root`` (created when missing).

    Nothing is overwritten unless ``force``: a file whose content differs is listed in
    ``conflicts`` and left as it was. Running it twice writes nothing the second time.
    """
    root = Path(root)
    ref = ref or default_ref()
    if not _REPO_RE.match(action_repository):
        raise InputError(f"--action {action_repository!r}: give the action's repository as OWNER/NAME")
    if not _REF_RE.match(ref) or ".." in ref:
        raise InputError(f"--ref {ref!r}: give a release tag (v0.1.0) or a commit sha")
    if root.exists() and not root.is_dir():
        raise InputError(f"{root}: exists and is not a directory")
    action = f"{action_repository}@{ref}"
    taxonomy = taxonomy_for(dimensions, default_dimension)
    files = scaffold_files(project=project or (root.resolve().name or "alignment"), taxonomy=taxonomy, action=action)
    result = InitResult(root=root, action=action)
    for rel, content in files.items():
        target = root / rel
        if target.exists():
            if target.read_text(encoding="utf-8", errors="replace") == content:
                result.unchanged.append(rel)
                continue
            if not force:
                result.conflicts.append(rel)
                continue
        write_atomic(target, content)
        result.written.append(rel)
    for rel, lines in ((".gitignore", GITIGNORE_LINES), (".gitattributes", GITATTRIBUTES_LINES)):
        (result.written if _merge_lines(root / rel, lines) else result.unchanged).append(rel)
    return result


def next_steps(result: InitResult) -> list[str]:
    """What the repository's owner does next, in order (docs/adopting.md explains each)."""
    steps = []
    if result.conflicts:
        steps.append(f"{len(result.conflicts)} file(s) differ from the templates and were kept: "
                     + ", ".join(result.conflicts) + " (compare them, or run `alignment-ci init --force`)")
    steps += [
        "Review alignment.yaml: the taxonomy (3-6 dimensions with definitions), training.base_model.",
        "Install Git LFS (`git lfs install`) so batch data under datasets_manifest/blobs/ is stored in LFS.",
        "Create the GitHub environments `training`, `canary` and `production` (Settings > Environments); "
        "require reviewers on `production`.",
        "Secrets in `training`: MODAL_TOKEN_ID and MODAL_TOKEN_SECRET (Modal GPUs, docs/modal.md), HF_TOKEN "
        "(gated or private base models, docs/models.md); AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY only with S3.",
        "Repository variables: ALIGNMENT_CI_TRAIN_BACKEND=modal to train on Modal GPUs (unset: alignment.yaml's training.backend, which init sets to local); "
        "ALIGNMENT_CI_S3_BUCKET to move the store to S3; before the first rollout ALIGNMENT_CI_PRODUCTION_MODEL (the "
        "model serving now) and ALIGNMENT_CI_EVENTS (where production events arrive).",
        "Branch protection on main: require the status check `alignment-ci/gates` and a review; let only GitHub "
        "Actions push the branch `alignment-ci/state` (the rollout's state without a bucket).",
        "Commit, push, then open your first batch pull request: `alignment-ci import labelstudio EXPORT "
        "--batch-id B --out incoming/B.jsonl`, `alignment-ci ingest incoming/B.jsonl --vendor V`, "
        "commit datasets_manifest/ (docs/adopting.md).",
    ]
    return steps
