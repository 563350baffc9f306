"""`alignment-ci cost`: annotation and GPU cost of a planned batch or a training run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, out
from ..errors import InputError
from ..monitor.cost import cost_estimate, cost_markdown, plan_label_counts, run_gpu_usage

app = typer.Typer(help="Cost of a planned batch (annotation) and of a training run (GPU).", invoke_without_command=True)


@app.callback()
def cost(
    ctx: typer.Context,
    plan: Annotated[Optional[Path], typer.Option("--plan", help="A plan JSON from `queue plan` (its items are priced).")] = None,
    items: Annotated[Optional[int], typer.Option("--items", help="Items to label (instead of --plan).")] = None,
    vendor: Annotated[Optional[str], typer.Option("--vendor", "-v", help="Vendor whose price per label applies (default: `default`).")] = None,
    labels_per_item: Annotated[Optional[int], typer.Option("--labels-per-item", help="Judgments bought per item (default: cost_model.labels_per_item).")] = None,
    run: Annotated[Optional[Path], typer.Option("--run", help="A training run record (JSON, as `train --format json` prints).")] = None,
    gpu_hours: Annotated[Optional[float], typer.Option("--gpu-hours", help="Wall-clock GPU hours (instead of --run).")] = None,
    gpu: Annotated[Optional[str], typer.Option("--gpu", help="GPU type, TYPE[:COUNT] as in cost.gpu_hour (e.g. H100, A100-80GB:4).")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the table for the PR report.")] = False,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Annotation cost = items x labels per item x price per label (+ gold); GPU cost = GPU-hours x price."""
    if ctx.invoked_subcommand is not None:
        return

    cfg = _config(config)
    model = cfg.cost_model

    def load(path: Path) -> dict:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not a JSON file ({exc})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: expected a JSON object")
        return data

    n_items = plan_label_counts(load(plan)) if plan else (items or 0)
    hours, gpu_spec = (None, gpu)
    if run:
        hours, found = run_gpu_usage(load(run))
        gpu_spec = gpu or found
    elif gpu_hours is not None:
        hours = gpu_hours
    if not n_items and hours is None:
        raise InputError("nothing to price: give --plan or --items, and/or --run or --gpu-hours")
    estimate = cost_estimate(prices=cfg.cost, items=n_items, vendor=vendor, labels_per_item=labels_per_item or model.labels_per_item,
                             gold_rate=cfg.bridge.gold_rate, gpu_hours=hours, gpu=gpu_spec, currency=model.currency)
    if markdown and format is Format.text:
        out.print(cost_markdown(estimate), end="", markup=False)
        return
    emit(estimate, format, lambda e: out.print(
        (f"annotation {e['annotation']['cost']:.2f} {escape(e['currency'])} ({e['annotation']['labels']} labels + {e['annotation']['gold_labels']} gold); " if e["annotation"] else "")
        + (f"GPU {e['gpu']['cost']:.2f} {escape(e['currency'])} ({e['gpu']['gpu_hours']:.2f} h {escape(e['gpu']['gpu'])}); " if e["gpu"] else "")
        + f"total {e['total']:.2f} {escape(e['currency'])}"
    ))
