"""The README documents every CLI command (as sqlite-utils' tests/test_docs.py does)."""

from __future__ import annotations

import pytest
import typer

from alignment_ci.cli import app


def _commands(group, prefix: tuple[str, ...] = ()) -> dict[str, object]:
    """Every command by its full name; list_commands/get_command load cli.py's lazy entries."""
    found: dict[str, object] = {}
    ctx = typer.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if hasattr(command, "commands"):  # a group (typer vendors its own click)
            found.update(_commands(command, prefix + (name,)))
        else:
            found[" ".join(("alignment-ci",) + prefix + (name,))] = command
    return found


ALL = _commands(typer.main.get_command(app))
COMMANDS = list(ALL)


def test_cli_has_the_contract_commands():
    for needed in ("alignment-ci validate", "alignment-ci ingest", "alignment-ci demo", "alignment-ci config show"):
        assert needed in COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_documents_command(repo_root, command):
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    assert f"`{command}" in readme, f"{command} is not documented in README.md"


def test_readme_starts_with_the_two_commands(repo_root):
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    first_section = readme.split("\n## ", 2)[1]
    assert "make demo" in first_section and "make test" in first_section


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_text(command):
    text = (ALL[command].help or "").strip()
    assert len(text) >= 20, f"{command} has no help text (its function's docstring)"


# --------------------------------------------------------------------------- the docs stay true

import re  # noqa: E402
from pathlib import Path  # noqa: E402

from alignment_ci.config import Config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"```.*?```", re.S)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+)$", text, re.M)}


def _section_rows(readme: str) -> dict[str, str]:
    table = readme.split("| section | holds |", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines():
        m = re.match(r"\|\s*`([a-z_]+)`\s*\|(.*)\|\s*$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve_inside_the_repository(doc):
    text = _FENCE.sub("", doc.read_text(encoding="utf-8"))
    broken = []
    for target in _LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        path_part, _, anchor = target.partition("#")
        resolved = (doc.parent / path_part).resolve() if path_part else doc
        if not resolved.is_relative_to(ROOT):
            broken.append(f"{target} (outside the repository)")
        elif not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target} (no heading #{anchor})")
    assert broken == [], f"{doc.name}: broken links: {broken}"


def test_readme_config_table_has_every_section_and_field():
    rows = _section_rows((ROOT / "README.md").read_text(encoding="utf-8"))
    missing = [name for name in Config.model_fields if name not in rows]
    assert missing == [], f"sections missing from README.md's config table: {missing}"
    for name, field in Config.model_fields.items():
        sub = getattr(field.annotation, "model_fields", None) or {}
        absent = [f for f in sub if f"`{f}`" not in rows[name]]
        assert absent == [], f"README.md config table, `{name}`: fields not documented: {absent}"


def _command_lines(text: str) -> list[str]:
    """`alignment-ci …` in inline code and in fenced blocks (prose about alignment-ci is not a command)."""
    lines = re.findall(r"`(alignment-ci [^`]+)`", _FENCE.sub("", text))
    for block in _FENCE.findall(text):
        lines += [m.group(0) for m in re.finditer(r"alignment-ci [^\n|]+", block)]
    return lines


def _lookup(path):
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


def test_docs_name_only_commands_that_exist():
    def walk(group, prefix=()):
        for name, command in group.commands.items():
            yield prefix + (name,)
            if hasattr(command, "commands"):
                yield from walk(command, prefix + (name,))

    tree = set(walk(typer.main.get_command(app)))
    prefixes = tree
    # commands: the leaves, and a group that runs by itself (`gate`, `report`, `cost`: typer callbacks)
    known = {p for p in tree if not hasattr(_lookup(p), "commands") or getattr(_lookup(p), "invoke_without_command", False)}
    unknown = []
    for doc in DOCS:
        for line in _command_lines(doc.read_text(encoding="utf-8")):
            tokens = line.split()[1:]
            if tokens[:1] == ["--store"]:
                tokens = tokens[2:]
            words = []
            for token in tokens:
                if not re.fullmatch(r"[a-z][a-z0-9-]*", token):
                    break
                words.append(token)
            if not words:
                continue
            path = tuple(words)
            while path and path not in prefixes:
                path = path[:-1]
            # the first word must be a command; a group's next word, when it is one of a group's words, must be its command
            if not path:
                unknown.append(f"{doc.name}: {line}")
            elif path in prefixes - known and len(words) > len(path):
                unknown.append(f"{doc.name}: {line}")
    assert unknown == [], f"docs name commands that do not exist: {sorted(set(unknown))}"


def test_every_workflow_is_documented():
    text = (ROOT / "docs" / "workflows.md").read_text(encoding="utf-8")
    for workflow in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        assert f"`{workflow.name}`" in text, f"docs/workflows.md does not describe {workflow.name}"
    from alignment_ci.scaffold import WORKFLOWS

    adopting = (ROOT / "docs" / "adopting.md").read_text(encoding="utf-8")
    for name in WORKFLOWS:
        assert f"`.github/workflows/{name}`" in adopting, f"docs/adopting.md does not list the scaffolded {name}"


def test_make_bench_runs_every_benchmark():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    for script in sorted((ROOT / "bench").glob("*_bench.py")):
        assert f"bench/{script.name}" in recipe, f"`make bench` does not run {script.name}"


def test_the_docs_a_newcomer_needs_exist():
    for name in ("adopting.md", "custom-gates.md", "modal.md", "models.md", "workflows.md"):
        assert (ROOT / "docs" / name).is_file(), name
