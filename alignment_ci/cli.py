"""The `alignment-ci` command line: one small command per verb, each calling the library.

Heavy libraries (torch, transformers, pandas, pyarrow) are imported inside the commands
that need them, so `alignment-ci --help` starts fast and without torch.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape

from .errors import AlignmentCIError

app = typer.Typer(
    name="alignment-ci",
    help="Continuous integration for RLHF: validate label batches, measure label quality, "
    "train, gate, report and roll out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Show the resolved alignment.yaml.", no_args_is_help=True)
manifest_app = typer.Typer(help="Dataset manifests: verify them, hash the snapshot.", no_args_is_help=True)
lineage_app = typer.Typer(help="The hash-chained lineage log.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(manifest_app, name="manifest")
app.add_typer(lineage_app, name="lineage")

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(str, Enum):
    text = "text"
    json = "json"


ConfigOpt = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", help="alignment.yaml to use (default ./alignment.yaml, built-in defaults when absent)."),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="`json`: machine output on stdout, logs on stderr.")]


def _config(path: Path | None):
    from .config import load_config

    return load_config(path)


def emit(data: Any, fmt: Format, render: Callable[[Any], None] | None = None) -> None:
    """Print ``data`` as JSON, or through ``render`` for people."""
    if fmt is Format.json or render is None:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    else:
        render(data)


# --------------------------------------------------------------------------- config


@config_app.command("show")
def config_show(config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Print the resolved configuration (the file merged over the built-in defaults)."""
    import yaml

    from .config import config_to_dict

    data = config_to_dict(_config(config))
    if format is Format.json:
        emit(data, format)
    else:
        out.print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="", markup=False)


# ------------------------------------------------------------------------ validate


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="Label batch: .jsonl, .csv or .parquet.")],
    task_type: Annotated[Optional[str], typer.Option("--task-type", "-t", help="Expected task type: pairwise, likert or ranking.")] = None,
    scale: Annotated[Optional[str], typer.Option("--scale", help="Likert scale MIN..MAX (default: each dimension's scale from the config).")] = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Validate a label batch against the data contract. Exit 0 accepted, 1 rejected, 2 input error."""
    from .config import Scale
    from .data.validate import validate_file
    from .errors import InputError

    cfg = _config(config)
    parsed_scale = None
    if scale is not None:
        try:
            parsed_scale = Scale.parse(scale)
        except ValueError as exc:
            raise InputError(f"--scale: {exc}") from None
    report = validate_file(file, cfg, task_type=task_type, scale=parsed_scale)
    emit(report.to_dict(), format, lambda _: _render_validation(file, report))
    raise typer.Exit(0 if report.accepted else 1)


def _render_validation(file: Path, report) -> None:
    from .reporting import render_issues

    render_issues(out, file, report)


# -------------------------------------------------------------------------- ingest


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="Label batch to ingest.")],
    vendor: Annotated[str, typer.Option("--vendor", "-v", help="Vendor that delivered the batch.")],
    task_type: Annotated[Optional[str], typer.Option("--task-type", "-t", help="Expected task type.")] = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Validate, store by sha256 and write datasets_manifest/batches/VENDOR/BATCH.yaml."""
    from .data.manifest import ingest_batch

    result = ingest_batch(file, vendor, _config(config), task_type=task_type)
    emit(result.to_dict(), format, lambda _: _render_ingest(file, result))
    raise typer.Exit(0 if result.accepted else 1)


def _render_ingest(file: Path, result) -> None:
    from .reporting import render_ingest

    render_ingest(out, file, result)


# ------------------------------------------------------------------------ manifest


@manifest_app.command("verify")
def manifest_verify(config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Check every manifest against the store (blob present, hash and row count match)."""
    from .data.manifest import verify_manifests

    result = verify_manifests(_config(config))
    emit(result, format, lambda r: _render_problems(r, "manifests"))
    raise typer.Exit(0 if result["ok"] else 1)


@manifest_app.command("snapshot")
def manifest_snapshot(config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Print the dataset snapshot hash: sha256 over the sorted batch hashes."""
    from .data.manifest import snapshot

    result = snapshot(_config(config))
    emit(result, format, lambda r: out.print(r["snapshot"]))


def _render_problems(result: dict, what: str) -> None:
    if result["ok"]:
        out.print(f"[green]ok[/green]: {result['checked']} {what} verified")
        return
    for problem in result["problems"]:
        text = f"seq {problem['seq']}: {problem['message']}" if isinstance(problem, dict) else str(problem)
        out.print(f"[red]error[/red]: {escape(text)}")
    out.print(f"{len(result['problems'])} problem(s) in {result['checked']} {what}")


# ------------------------------------------------------------------------- lineage


@lineage_app.command("verify")
def lineage_verify(
    expected_head: Annotated[Optional[str], typer.Option("--expected-head", help="Hash the newest entry must have (anchors the tail).")] = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Check the lineage log's hash chain: any edited, dropped or reordered entry fails."""
    from .lineage import open_lineage

    result = open_lineage(_config(config)).verify(expected_head).to_dict()
    emit(result, format, lambda r: _render_problems(r, "lineage entries"))
    raise typer.Exit(0 if result["ok"] else 1)


@lineage_app.command("show")
def lineage_show(
    subject: Annotated[str, typer.Argument(help="An artifact, batch or source hash.")],
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Walk the lineage log back from SUBJECT to the batches and raters it came from."""
    from .lineage import open_lineage

    entries = [e.to_dict() for e in open_lineage(_config(config)).walk(subject)]
    if not entries:
        from .errors import InputError

        raise InputError(f"no lineage entry names {subject!r}")
    emit({"subject": subject, "entries": entries}, format, _render_lineage)


def _render_lineage(data: dict) -> None:
    from .reporting import render_lineage

    render_lineage(out, data)


# ---------------------------------------------------------------------------- demo


@app.command()
def demo(
    workdir: Annotated[Optional[Path], typer.Option("--workdir", help="Where to build the demo workspace (default: a new temp dir).")] = None,
    format: FormatOpt = Format.text,
) -> None:
    """Run the whole loop on embedded defaults in a throwaway workspace."""
    from .demo import run_demo

    summary = run_demo(workdir, console=err if format is Format.json else out)
    if format is Format.json:
        emit(summary, format)


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
