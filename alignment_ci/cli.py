"""The `alignment-ci` command line. This module only mounts the command modules in
``alignment_ci/commands/`` (one per noun, like sqlite-utils' cli); each command calls the library.

Mounting is lazy (click's "lazily loading subcommands" pattern): :data:`COMMANDS` names each
command by ``module:attribute`` and a command module is imported when its command runs or
help lists it, so `alignment-ci validate` does not import the rollout, the bridge or pandas'
neighbours, and `alignment-ci --help` loads no heavy library (tests/test_architecture.py).
Installed plugins add command groups through the ``alignment_ci.commands`` entry points
(rater_bridge's ``bridge``): this package never imports them.
"""

from __future__ import annotations

import importlib
import os
import sys
from enum import Enum
from functools import cache
from importlib.metadata import entry_points
from typing import Annotated, Any, Optional

import click
import typer
from typer.core import TyperGroup

from . import __version__
from .cli_common import err
from .errors import AlignmentCIError

#: Every command and command group, in help order: name -> "module:attribute", where the
#: attribute is a typer app (a group) or a command function (a top-level command).
COMMANDS: dict[str, str] = {
    "validate": "alignment_ci.commands.data:validate",
    "ingest": "alignment_ci.commands.data:ingest",
    "demo": "alignment_ci.commands.demo:demo",
    "config": "alignment_ci.commands.config:app",
    "manifest": "alignment_ci.commands.data:manifest_app",
    "lineage": "alignment_ci.commands.lineage:app",
    "quality": "alignment_ci.commands.quality:app",
    "train": "alignment_ci.commands.train:app",
    "models": "alignment_ci.commands.train:models_app",
    "rollout": "alignment_ci.commands.rollout:app",
    "report": "alignment_ci.commands.report:app",
    "gate": "alignment_ci.commands.gate:app",
    "baseline": "alignment_ci.commands.baseline:app",
    "state": "alignment_ci.commands.state:app",
    "import": "alignment_ci.commands.importers:app",
    "labelstudio": "alignment_ci.commands.importers:labelstudio_app",
    "monitor": "alignment_ci.commands.monitor:app",
    "queue": "alignment_ci.commands.queue:app",
    "cost": "alignment_ci.commands.cost:app",
    "retrain": "alignment_ci.commands.retrain:app",
    "critic": "alignment_ci.commands.critic:app",
    "init": "alignment_ci.commands.init:init",
}
PLUGIN_GROUP = "alignment_ci.commands"
EXTENSION_GROUP = "alignment_ci.command_extensions"


@cache
def _entry_points(group: str) -> tuple[tuple[str, str], ...]:
    """``(name, value)`` of the installed entry points of ``group``, sorted by name. Read once
    per process: scanning every installed distribution's metadata takes tens of milliseconds."""
    return tuple(sorted((e.name, e.value) for e in entry_points(group=group)))


def _plugins() -> dict[str, str]:
    return {name: value for name, value in _entry_points(PLUGIN_GROUP) if name not in COMMANDS}


def _load_extensions(group: str) -> None:
    """Import the modules that add commands to the built-in ``group`` (the
    ``alignment_ci.command_extensions`` entry points named after it: rater_bridge's
    `labelstudio connect`), before the group is built."""
    for name, value in _entry_points(EXTENSION_GROUP):
        if name == group:
            importlib.import_module(value.partition(":")[0])


def load_command(name: str, target: str) -> click.Command:
    """The click command that ``target`` ("module:attribute") names, called ``name``."""
    module, _, attribute = target.partition(":")
    obj: Any = getattr(importlib.import_module(module), attribute)
    # Mounted on a parent as cli.py used to (add_typer / command): a group of one command
    # stays a group, and options come out as at the root.
    parent = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    if isinstance(obj, typer.Typer):
        parent.add_typer(obj, name=name)
        return typer.main.get_command(parent).commands[name]
    parent.command(name=name)(obj)
    return typer.main.get_command(parent)  # a typer of one command is that command


class LazyGroup(TyperGroup):
    """The top-level group: :data:`COMMANDS` and the plugins' groups, each loaded on first use.

    ``get_command`` loads one command module; reading ``commands`` (click's dict of every
    command, as tools that walk the tree do) loads them all.
    """

    @property  # type: ignore[override]
    def commands(self) -> dict[str, click.Command]:
        for name in self._targets():
            self.get_command(None, name)  # type: ignore[arg-type]
        return self._loaded

    @commands.setter
    def commands(self, value: dict[str, click.Command]) -> None:
        self._loaded = dict(value)

    def _targets(self) -> dict[str, str]:
        return {**COMMANDS, **_plugins()}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self._loaded, *(n for n in self._targets() if n not in self._loaded)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self._loaded:
            target = self._targets().get(cmd_name)
            if target is None:
                return None
            _load_extensions(cmd_name)
            self._loaded[cmd_name] = load_command(cmd_name, target)
        return self._loaded[cmd_name]


app = typer.Typer(
    name="alignment-ci",
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class StoreBackend(str, Enum):
    file = "file"
    s3 = "s3"


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"alignment-ci {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    store: Annotated[Optional[StoreBackend], typer.Option(
        "--store", help="Artifact store backend for this command: beats ALIGNMENT_CI_STORE / ALIGNMENT_CI_S3_BUCKET, "
        "which beat stores.artifacts.backend in alignment.yaml (default `file`).")] = None,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                          callback=_print_version)] = False,
) -> None:
    """Continuous integration for RLHF: validate label batches, measure label quality,
    train, gate, report and roll out."""
    if store is not None:
        os.environ["ALIGNMENT_CI_STORE"] = store.value  # children (the gate's pytest) see it too


def main() -> None:
    """Console-script entry point: user errors become a message and exit code 2 (or 1)."""
    try:
        app()
    except AlignmentCIError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
