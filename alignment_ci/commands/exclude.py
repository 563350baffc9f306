"""`alignment-ci manifest exclude-raters`: exclude raters from a batch, as a reviewed change of its manifest."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, out
from ..data.manifest import exclude_raters as record_exclusion


def _render(data: dict[str, Any]) -> None:
    if not data["excluded"]:
        out.print(f"nothing changed: {escape(', '.join(data['already_excluded']))} already excluded from "
                  f"{escape(data['batch_id'])}")
        return
    out.print(f"excluded {escape(', '.join(data['excluded']))} from {escape(data['batch_id'])} in "
              f"{escape(data['manifest'])}")
    out.print("commit the manifest change: the pull request is where the exclusion is reviewed; aggregation, "
              "training and the gates leave these raters out from then on")


def exclude_raters(
    batch: Annotated[str, typer.Argument(help="Batch id (its manifest under datasets_manifest/batches/).")],
    rater: Annotated[list[str], typer.Option("--rater", help="A rater id to exclude (repeat for several), as the "
                                             "label-quality report names it.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the manifest and the lineage log).")] = "",
    by: Annotated[Optional[str], typer.Option("--by", help="Who decided (e.g. the reviewer's handle).")] = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Record in BATCH's manifest that raters are excluded (field excluded_raters: rater_id, reason, at, by)."""
    emit(record_exclusion(_config(config), batch, list(rater), reason, by=by), format, _render)
