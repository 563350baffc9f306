"""`alignment-ci init [DIR]`: scaffold an alignment repository (library: alignment_ci.scaffold)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from ..cli_common import Format, FormatOpt, emit, err, out
from ..scaffold import DEFAULT_ACTION_REPOSITORY, init_repository, next_steps


def init(
    directory: Annotated[Path, typer.Argument(help="Repository to scaffold (created when missing).")] = Path("."),
    dimension: Annotated[Optional[list[str]], typer.Option(
        "--dimension", "-d", help="A taxonomy dimension (repeat 3-6 times; default: the built-in taxonomy). "
        "Known names keep their built-in definitions; others get a TODO definition to write.")] = None,
    default_dimension: Annotated[Optional[str], typer.Option("--default-dimension", help="Dimension assumed when a row has none (default: the first).")] = None,
    project: Annotated[Optional[str], typer.Option("--project", help="Project name shown in reports (default: the directory's name).")] = None,
    action: Annotated[str, typer.Option("--action", help="OWNER/NAME of the alignment-ci action the workflows use (a fork, a mirror).")] = DEFAULT_ACTION_REPOSITORY,
    ref: Annotated[Optional[str], typer.Option("--ref", help="Release tag or commit sha the workflows pin the action to (default: v<installed version>).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files whose content differs from the templates.")] = False,
    format: FormatOpt = Format.text,
) -> None:
    """Scaffold alignment.yaml, the four workflows (pinned to a release), gates/, eval sets and .gitignore lines.

    Idempotent; an existing file with other content is kept unless --force (exit 1 then
    lists them). Prints the next steps: environments, secrets, variables, branch protection.
    """
    result = init_repository(directory, project=project, dimensions=dimension, default_dimension=default_dimension,
                             action_repository=action, ref=ref, force=force)
    emit(result.to_dict(), format, _render)
    if not result.ok:
        raise typer.Exit(1)


def _render(data: dict[str, Any]) -> None:
    for rel in data["written"]:
        out.print(f"wrote     {escape(rel)}")
    for rel in data["unchanged"]:
        out.print(f"unchanged {escape(rel)}")
    for rel in data["conflicts"]:
        err.print(f"kept      {escape(rel)} (differs from the template; --force overwrites)")
    out.print(f"\nworkflows use [bold]{escape(data['action'])}[/bold]\n\nNext steps (docs/adopting.md):")
    for n, step in enumerate(data["next_steps"], 1):
        out.print(f"  {n}. {escape(step)}")


__all__ = ["init", "next_steps"]
