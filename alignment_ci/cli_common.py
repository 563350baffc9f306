"""Shared pieces of the CLI: consoles, the --config/--format options, JSON emission.

Command modules (``alignment_ci/commands/*.py``) import from here, and cli.py mounts
their typer apps, so no command module imports cli.py.
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
from .config import load_config

# Not a terminal (CI logs, pipes): rich would wrap tables at 80 columns; give them room.
out = Console(soft_wrap=True, highlight=False, width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 140)


class Format(str, Enum):
    text = "text"
    json = "json"


ConfigOpt = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", help="alignment.yaml to use (default ./alignment.yaml, built-in defaults when absent)."),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="`json`: machine output on stdout, logs on stderr.")]


def _config(path: Path | None):
    return load_config(path)


def emit(data: Any, fmt: Format, render: Callable[[Any], None] | None = None) -> None:
    """Print ``data`` as JSON, or through ``render`` for people."""
    if fmt is Format.json or render is None:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    else:
        render(data)


def render_problems(result: dict, what: str) -> None:
    """Print a verify result (`ok`, `checked`, `problems`): one line per problem, then a count."""
    if result["ok"]:
        out.print(f"[green]ok[/green]: {result['checked']} {what} verified")
        return
    for problem in result["problems"]:
        text = f"seq {problem['seq']}: {problem['message']}" if isinstance(problem, dict) else str(problem)
        out.print(f"[red]error[/red]: {escape(text)}")
    out.print(f"{len(result['problems'])} problem(s) in {result['checked']} {what}")
