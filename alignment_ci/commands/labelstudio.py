"""`alignment-ci labelstudio connect`: a Label Studio project wired to the bridge and the rater queue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, err, out
from .importers import DimensionOpt, labelstudio_app


@labelstudio_app.command("connect")
def connect(
    url: Annotated[str, typer.Option("--url", help="The Label Studio server, e.g. https://labelstudio.example.")],
    token: Annotated[str, typer.Option("--token", envvar="LABEL_STUDIO_API_KEY", show_envvar=True,
                                       help="A Label Studio access token (legacy API token or personal access token).")],
    project: Annotated[str, typer.Option("--project", help="An existing project's id, or the title of the project to create (reused when it exists).")],
    vendor: Annotated[str, typer.Option("--vendor", help="The bridge vendor the project belongs to (`bridge vendor add`).")],
    bridge_url: Annotated[str, typer.Option("--bridge-url", help="The bridge's URL as Label Studio reaches it, e.g. https://bridge.example.")],
    dimension: DimensionOpt = None,
    tasks: Annotated[int, typer.Option("--tasks", min=0, help="Queue tasks to hand out to the project now (0: none).")] = 100,
    ca_bundle: Annotated[Optional[Path], typer.Option("--ca-bundle", exists=True, dir_okay=False, help="CA certificates for a Label Studio with a private TLS certificate.")] = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Create the project from the taxonomy config, import queue tasks, bind it to the vendor and register the webhook."""
    from rater_bridge.app import open_bridge
    from rater_bridge.labelstudio import LabelStudioClient
    from rater_bridge.labelstudio import connect as connect_project

    bridge = open_bridge(_config(config))
    client = LabelStudioClient(url, token, verify=str(ca_bundle) if ca_bundle else True)
    try:
        result = connect_project(bridge, client, project=project, vendor=vendor, bridge_url=bridge_url,
                                 dimension=dimension, n_tasks=tasks)
    finally:
        client.close()
        bridge.dispose()

    def render(d: dict) -> None:
        verb = "created" if d["created"] else "using"
        err.print(f"{verb} Label Studio project {d['project']} ({escape(str(d['title']))}), bound to vendor {escape(vendor)}")
        err.print(f"imported {d['tasks_imported']} queue task(s); webhook {d['webhook']} posts "
                  f"{', '.join(d['actions'])} to {escape(d['webhook_url'])}")
        out.print(str(d["project"]))

    emit(result, format, render)
