"""`alignment-ci demo`: the whole loop on embedded defaults in a throwaway workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..cli_common import Format, FormatOpt, emit, err, out
from ..demo import run_demo


def demo(
    workdir: Annotated[Optional[Path], typer.Option("--workdir", help="Where to build the demo workspace (default: a new temp dir).")] = None,
    format: FormatOpt = Format.text,
) -> None:
    """Run the whole loop on embedded defaults in a throwaway workspace."""

    summary = run_demo(workdir, console=err if format is Format.json else out)
    if format is Format.json:
        emit(summary, format)
