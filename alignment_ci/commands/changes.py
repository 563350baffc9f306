"""`alignment-ci manifest changed`: the label batches a pull request adds or changes.

cli.py registers :func:`manifest_changed` in the ``manifest`` group
(``manifest_app.command("changed")(manifest_changed)``); ``app`` mounts the same command
on its own where a group is preferred.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, out
from ..data.changes import changed_batches

app = typer.Typer(help="Label batches changed between two commits.", no_args_is_help=True)


@app.command("changed")
def manifest_changed(
    base: Annotated[str, typer.Option("--base", help="Base commit or ref (the pull request's base).")],
    head: Annotated[str, typer.Option("--head", help="Head commit or ref.")] = "HEAD",
    fetch: Annotated[Optional[Path], typer.Option("--fetch", help="Directory to write each changed batch's Parquet to, from the store (hash-verified).")] = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """List batch manifests added or modified in BASE...HEAD; with --fetch, also fetch their data."""

    result = changed_batches(_config(config), base, head, fetch_to=fetch)
    emit(result, format, _render)


def _render(result: dict[str, Any]) -> None:
    if not result["batches"]:
        out.print(f"no label batch changed in {escape(result['base'])}...{escape(result['head'])}")
    for b in result["batches"]:
        where = f" → {escape(b['file'])}" if b.get("file") else ""
        out.print(f"{escape(b['batch_id'])} ({escape(str(b['vendor']))}, {b['rows']} rows) {escape(b['manifest'])}{where}")
