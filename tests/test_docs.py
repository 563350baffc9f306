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
