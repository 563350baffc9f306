"""`alignment-ci lineage`: verify the hash-chained lineage log and walk it back from an artifact."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, out, render_problems
from ..errors import InputError
from ..lineage import open_lineage
from ..report.console import render_lineage

app = typer.Typer(help="The hash-chained lineage log.", no_args_is_help=True)


@app.command("verify")
def lineage_verify(
    expected_head: Annotated[Optional[str], typer.Option("--expected-head", help="Hash the newest entry must have (anchors the tail).")] = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Check the lineage log's hash chain: any edited, dropped or reordered entry fails."""

    result = open_lineage(_config(config)).verify(expected_head).to_dict()
    emit(result, format, lambda r: render_problems(r, "lineage entries"))
    raise typer.Exit(0 if result["ok"] else 1)


@app.command("show")
def lineage_show(
    subject: Annotated[str, typer.Argument(help="An artifact, batch or source hash.")],
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Walk the lineage log back from SUBJECT to the batches and raters it came from."""

    entries = [e.to_dict() for e in open_lineage(_config(config)).walk(subject)]
    if not entries:
        raise InputError(f"no lineage entry names {subject!r}")
    emit({"subject": subject, "entries": entries}, format, _render_lineage)


def _render_lineage(data: dict) -> None:
    render_lineage(out, data)
