"""`alignment-ci config`: show the resolved alignment.yaml."""

from __future__ import annotations

import typer

from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, out
from ..config import config_to_dict

app = typer.Typer(help="Show the resolved alignment.yaml.", no_args_is_help=True)


@app.command("show")
def config_show(config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Print the resolved configuration (the file merged over the built-in defaults)."""
    import yaml


    data = config_to_dict(_config(config))
    if format is Format.json:
        emit(data, format)
    else:
        out.print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="", markup=False)
