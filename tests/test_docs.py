"""The README documents every CLI command (as sqlite-utils' tests/test_docs.py does)."""

from __future__ import annotations

import pytest
import typer

from alignment_ci.cli import app


def _command_paths(group, prefix: tuple[str, ...] = ()) -> list[str]:
    paths = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer vendors its own click)
            paths += _command_paths(command, prefix + (name,))
        else:
            paths.append(" ".join(("alignment-ci",) + prefix + (name,)))
    return paths


COMMANDS = _command_paths(typer.main.get_command(app))


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
