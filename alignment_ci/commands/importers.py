"""`alignment-ci import labelstudio|argilla` and `alignment-ci labelstudio config`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..config import Config
from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, out
from ..cli_common import err
from ..data.validate import validate_file
from ..errors import InputError
from ..formats.argilla import read_argilla_export
from ..formats.labelstudio import labeling_config, read_labelstudio_export
from ..jsonl import write_jsonl

app = typer.Typer(help="Import labeling-tool exports (Label Studio, Argilla) as canonical label batches.", no_args_is_help=True)
labelstudio_app = typer.Typer(help="Label Studio: the labeling config generated from the taxonomy; a project connected to the bridge.", no_args_is_help=True)

BatchOpt = Annotated[str, typer.Option("--batch-id", "-b", help="batch_id written on every row.")]
DimensionOpt = Annotated[Optional[str], typer.Option("--dimension", "-d", help="Dimension of the judgments (default: the taxonomy's default).")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Canonical JSONL batch to write.")]
FieldsOpt = Annotated[Optional[list[str]], typer.Option("--fields", help="ROLE=KEY: where the prompt/response_a/response_b/response is in the data (repeatable).")]
ChoiceMapOpt = Annotated[Optional[list[str]], typer.Option("--choice-map", help="LABEL=a|b|tie|skip for custom preference labels (repeatable).")]


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out_map: dict[str, str] = {}
    for v in values or []:
        key, sep, val = v.partition("=")
        if not sep or not key or not val:
            raise InputError(f"{what} {v!r} must look like NAME=VALUE")
        out_map[key] = val
    return out_map


def _dimension(cfg: Config, dimension: str | None) -> str:
    """``--dimension`` if the taxonomy has it (default: the taxonomy's default), else a usage error."""

    if dimension is None:
        return cfg.taxonomy.default_dimension
    if dimension not in cfg.taxonomy.names:
        import difflib

        close = difflib.get_close_matches(dimension, cfg.taxonomy.names, n=1)
        more = f" (did you mean `{close[0]}`?)" if close else ""
        raise InputError(f"--dimension {dimension!r} is not in the taxonomy{more}: use one of "
                         f"{', '.join(cfg.taxonomy.names)}, or add it to taxonomy.dimensions in alignment.yaml")
    return dimension


def _write(result, out_path: Path, format: Format, source: Path, cfg: Config) -> None:
    """Write the canonical batch once it validates; otherwise write nothing and name, for each
    error, the line of the converted batch and the export's record it came from (exit 1)."""
    import os

    if not result.rows:
        raise InputError(f"{source}: no usable judgments ({result.summary()['skipped_reasons'] or 'empty export'})")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    write_jsonl(result.rows, tmp)
    try:
        report = validate_file(tmp, cfg, fmt="jsonl")
        if not report.accepted:
            data = {"accepted": False, "export": str(source), "out": str(out_path), "rows": len(result.rows),
                    "errors": result.with_sources(report.to_dict()["errors"]), "written": False}
            emit(data, format, _render_rejected)
            raise typer.Exit(1)
        os.replace(tmp, out_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    summary = {**result.summary(), "out": str(out_path)}
    emit(summary, format, lambda s: out.print(
        f"wrote {s['rows']} {s['task_type']} judgments ({s['items']} items, {s['raters']} raters) to {escape(s['out'])}"
        + (f"; skipped {s['skipped']}: " + ", ".join(f"{escape(k)} {v}" for k, v in s["skipped_reasons"].items()) if s["skipped"] else "")
    ))


def _render_rejected(data) -> None:
    err.print(f"{escape(data['export'])}: {len(data['errors'])} error(s) in the converted batch; nothing written to "
              f"{escape(data['out'])}")
    for e in data["errors"][:50]:
        where = f"line {e.get('line')}" + (f" ({e['source']})" if e.get("source") else "")
        column = f" column {e['column']}" if e.get("column") else ""
        err.print(f"  {escape(where)}{escape(column)}: {escape(str(e.get('message')))}")


@app.command("labelstudio")
def import_labelstudio(
    export: Annotated[Path, typer.Argument(help="Label Studio JSON export (a list of tasks).")],
    batch_id: BatchOpt,
    out_path: OutOpt,
    dimension: DimensionOpt = None,
    fields: FieldsOpt = None,
    choice_map: ChoiceMapOpt = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Pairwise judgments of a Label Studio export as a canonical batch (cancelled annotations skipped)."""

    cfg = _config(config)
    result = read_labelstudio_export(
        export, batch_id, dimension=_dimension(cfg, dimension), dimensions=cfg.taxonomy.names,
        fields=_pairs(fields, "--fields"), choice_map=_pairs(choice_map, "--choice-map"), limits=cfg.validation.limits,
    )
    _write(result, out_path, format, export, cfg)


@app.command("argilla")
def import_argilla(
    export: Annotated[Path, typer.Argument(help="Argilla v2 records: JSON array, JSON Lines, or records.json of to_disk().")],
    batch_id: BatchOpt,
    out_path: OutOpt,
    dimension: DimensionOpt = None,
    question: Annotated[Optional[str], typer.Option("--question", "-q", help="The rating/label/ranking question to import.")] = None,
    fields: FieldsOpt = None,
    choice_map: ChoiceMapOpt = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Rating, label or ranking responses of an Argilla v2 export as a canonical batch (submitted only)."""

    cfg = _config(config)
    result = read_argilla_export(
        export, batch_id, dimension=_dimension(cfg, dimension), dimensions=cfg.taxonomy.names,
        question=question, fields=_pairs(fields, "--fields"), choice_map=_pairs(choice_map, "--choice-map"), limits=cfg.validation.limits,
    )
    _write(result, out_path, format, export, cfg)


@labelstudio_app.command("config")
def labelstudio_config(
    dimension: DimensionOpt = None,
    out_path: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the XML here instead of stdout.")] = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Label Studio labeling config for pairwise judgments on one dimension (hotkeys 1/2/3, s to skip)."""

    cfg = _config(config)
    xml = labeling_config(cfg.taxonomy, dimension)
    if out_path is not None:
        out_path.write_text(xml, encoding="utf-8")
    if format is Format.json:
        emit({"dimension": dimension or cfg.taxonomy.default_dimension, "config": xml, "out": str(out_path) if out_path else None}, format)
    elif out_path is None:
        out.print(xml, end="", markup=False)
    else:
        out.print(f"wrote the Label Studio config to {escape(str(out_path))}")
