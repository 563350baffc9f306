"""`alignment-ci retrain check|open`: the retrain trigger (label count or schedule) and its PR."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, out
from ..forge import open_forge
from ..monitor.retrain import open_retrain_pr, retrain_check
from ..store import open_store

app = typer.Typer(help="Retrain trigger: new merged labels (or a schedule) open a PR bumping the training snapshot.", no_args_is_help=True)
ScheduleOpt = Annotated[bool, typer.Option("--schedule", help="A scheduled run: retrain when there is any new label.")]


def _render(d: dict) -> None:
    out.print(("[bold]due[/bold]: " if d["due"] else "not due: ") + escape(d["reason"]))
    if d.get("pull_request"):
        pr = d["pull_request"]
        out.print(f"pull request #{pr['number']} {'opened' if pr['created'] else 'updated'}: {escape(pr['url'])}")


@app.command("check")
def check(schedule: ScheduleOpt = False, config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Say whether a retrain is due and why (merged labels since the last training snapshot)."""

    cfg = _config(config)
    decision = retrain_check(cfg, store=open_store(cfg), schedule=schedule, settings=cfg.retrain)
    emit(decision.to_dict(), format, _render)


@app.command("open")
def open_pr(schedule: ScheduleOpt = False, config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """When a retrain is due, open (or update) the pull request that bumps training.dataset.snapshot."""

    cfg = _config(config)
    settings = cfg.retrain
    decision = retrain_check(cfg, store=open_store(cfg), schedule=schedule, settings=settings)
    data = decision.to_dict()
    data["pull_request"] = None
    if decision.due:
        forge = open_forge(cfg, cfg.root)
        ref = open_retrain_pr(cfg, decision, forge, config_path=Path(config).name if config else "alignment.yaml", settings=settings)
        data["pull_request"] = ref.as_dict()
    emit(data, format, _render)
