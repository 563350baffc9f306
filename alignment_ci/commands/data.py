"""`alignment-ci validate`, `ingest` and `manifest`: label batches against the data contract,
into the store, and the manifests that record them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, out, render_problems
from ..config import Config, Scale
from ..data.columns import parse_map
from ..data.manifest import ingest_batch, snapshot, verify_manifests
from ..data.validate import validate_file
from ..errors import InputError
from ..report.console import render_ingest, render_issues
from . import changes, exclude

manifest_app = typer.Typer(help="Dataset manifests: verify them, hash the snapshot.", no_args_is_help=True)
manifest_app.command("changed")(changes.manifest_changed)
manifest_app.command("exclude-raters")(exclude.exclude_raters)

# `validate` and `ingest` are top-level commands: cli.py registers them with app.command().


MapOpt = Annotated[Optional[list[str]], typer.Option(
    "--map", help="VENDOR_COLUMN=CONTRACT_COLUMN, e.g. annotator_id=rater_id (repeatable; adds to validation.column_map).")]


def _with_map(cfg: Config, values: list[str] | None) -> Config:
    """The config with ``--map`` pairs added to ``validation.column_map``."""
    if not values:
        return cfg

    merged = {**cfg.validation.column_map, **parse_map(values)}
    return cfg.model_copy(update={"validation": cfg.validation.model_copy(update={"column_map": merged})})


def validate(
    file: Annotated[Path, typer.Argument(help="Label batch: .jsonl, .csv or .parquet.")],
    task_type: Annotated[Optional[str], typer.Option("--task-type", "-t", help="Expected task type: pairwise, likert or ranking.")] = None,
    scale: Annotated[Optional[str], typer.Option("--scale", help="Likert scale MIN..MAX (default: each dimension's scale from the config).")] = None,
    column_map: MapOpt = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Validate a label batch against the data contract. Exit 0 accepted, 1 rejected, 2 input error."""

    cfg = _with_map(_config(config), column_map)
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
    render_issues(out, file, report)


def ingest(
    file: Annotated[Path, typer.Argument(help="Label batch to ingest.")],
    vendor: Annotated[str, typer.Option("--vendor", "-v", help="Vendor that delivered the batch.")],
    task_type: Annotated[Optional[str], typer.Option("--task-type", "-t", help="Expected task type.")] = None,
    column_map: MapOpt = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Validate, store by sha256 and write datasets_manifest/batches/VENDOR/BATCH.yaml."""

    result = ingest_batch(file, vendor, _with_map(_config(config), column_map), task_type=task_type)
    emit(result.to_dict(), format, lambda _: _render_ingest(file, result))
    raise typer.Exit(0 if result.accepted else 1)


def _render_ingest(file: Path, result) -> None:
    render_ingest(out, file, result)


@manifest_app.command("verify")
def manifest_verify(config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Check every manifest against the store (blob present, hash and row count match)."""

    result = verify_manifests(_config(config))
    emit(result, format, lambda r: render_problems(r, "manifests"))
    raise typer.Exit(0 if result["ok"] else 1)


@manifest_app.command("snapshot")
def manifest_snapshot(config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Print the dataset snapshot hash: sha256 over the sorted batch hashes."""

    result = snapshot(_config(config))
    emit(result, format, lambda r: out.print(r["snapshot"]))
