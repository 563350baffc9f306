"""The `alignment-ci` command line. This module only mounts the command modules in
``alignment_ci/commands/`` (one per noun, like sqlite-utils' cli); each command calls the library.

Heavy libraries (torch, transformers, scipy, ...) load inside the library code that uses them,
so `alignment-ci --help` starts fast and without them (tests/test_imports.py checks).
"""

from __future__ import annotations

import sys
from enum import Enum
from importlib.metadata import entry_points
from typing import Annotated, Optional

import typer

from .cli_common import err
from .commands import baseline as baseline_commands
from .commands import config as config_commands
from .commands import cost as cost_commands
from .commands import data as data_commands
from .commands import demo as demo_commands
from .commands import gate as gate_commands
from .commands import importers as import_commands
from .commands import init as init_commands
from .commands import lineage as lineage_commands
from .commands import monitor as monitor_commands
from .commands import quality as quality_commands
from .commands import queue as queue_commands
from .commands import report as report_commands
from .commands import retrain as retrain_commands
from .commands import rollout as rollout_commands
from .commands import train as train_commands
from .errors import AlignmentCIError

app = typer.Typer(
    name="alignment-ci",
    help="Continuous integration for RLHF: validate label batches, measure label quality, "
    "train, gate, report and roll out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class StoreBackend(str, Enum):
    file = "file"
    s3 = "s3"


def _print_version(value: bool) -> None:
    if value:
        from . import __version__

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
    """Continuous integration for RLHF: validate label batches, measure label quality, train, gate, report and roll out."""
    if store is not None:
        import os

        os.environ["ALIGNMENT_CI_STORE"] = store.value  # children (the gate's pytest) see it too


app.add_typer(config_commands.app, name="config")
app.add_typer(data_commands.manifest_app, name="manifest")
app.add_typer(lineage_commands.app, name="lineage")
app.add_typer(quality_commands.app, name="quality")
app.add_typer(train_commands.app, name="train")
app.add_typer(train_commands.models_app, name="models")
app.add_typer(rollout_commands.app, name="rollout")
app.add_typer(report_commands.app, name="report")
app.add_typer(gate_commands.app, name="gate")
app.add_typer(baseline_commands.app, name="baseline")
app.add_typer(import_commands.app, name="import")
app.add_typer(import_commands.labelstudio_app, name="labelstudio")
app.add_typer(monitor_commands.app, name="monitor")
app.add_typer(queue_commands.app, name="queue")
app.add_typer(cost_commands.app, name="cost")
app.add_typer(retrain_commands.app, name="retrain")
app.command()(data_commands.validate)
app.command()(data_commands.ingest)
app.command()(demo_commands.demo)
app.command("init")(init_commands.init)
# Command groups of installed plugins (rater_bridge's `bridge`): the `alignment_ci.commands`
# entry points, so this package never imports them.
for _entry in sorted(entry_points(group="alignment_ci.commands"), key=lambda e: e.name):
    app.add_typer(_entry.load(), name=_entry.name)


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
