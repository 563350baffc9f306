"""`alignment-ci train` and `alignment-ci models`: training runs and the tiny offline model."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, err, out
from ..errors import InputError
from ..train.backends.modal import wait as wait_run
from ..train.runs import train as train_stage
from ..train.runs import train_pipeline
from ..train.stages.ppo import require_local_runtime
from ..train.tiny import build_tiny_model

app = typer.Typer(help="Train the pipeline into one candidate (or one --stage: reward, sft, dpo, grpo, rloo on TRL; ppo on verl), cached by content.", invoke_without_command=True)
models_app = typer.Typer(help="Models for offline use.", no_args_is_help=True)

StageOpt = Annotated[Optional[str], typer.Option("--stage", "-s", help="reward, sft, dpo, grpo, rloo or ppo (verl, GPUs only) (default: every stage of training.pipeline, recorded as one candidate).")]
BackendOpt = Annotated[Optional[str], typer.Option("--backend", "-b", help="local or modal (default: training.backend).")]


@contextmanager
def _progress(enabled: bool):
    """A rich progress bar per stage on stderr; yields the factory train() expects."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), console=err) as bar:

        def factory(stage: str):
            task = bar.add_task(f"train {stage}", total=None, loss="")

            def callback(step: int, max_steps: int, logs: dict[str, float]) -> None:
                loss = logs.get("loss")
                bar.update(task, completed=step, total=max_steps or None, loss=f"loss {loss:.4f}" if loss is not None else "")

            return callback

        yield factory


@app.callback()
def train(
    ctx: typer.Context,
    stage: StageOpt = None,
    backend: BackendOpt = None,
    detach: Annotated[bool, typer.Option("--detach", help="Modal: spawn the run and return; collect it with `train wait RUN`.")] = False,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Train the pipeline (training.pipeline, e.g. reward → sft → dpo) and print its candidate record; with
    --stage, train that stage alone (parents first) and print its run record (`cached: true` on a cache hit)."""
    if ctx.invoked_subcommand is not None:
        return

    cfg = _config(config)
    # Modal credentials are checked by the backend when a run must actually be spawned:
    # a run already in the store comes back cached without them.
    if stage is None:
        if detach:
            raise InputError("--detach needs --stage: a pipeline's stages wait for each other; detach its last stage")
        with _progress(format is Format.text) as factory:
            candidate = train_pipeline(cfg, backend=backend, progress=factory)
        emit(_public_candidate(candidate), format, _render_candidate)
        return
    if stage == "ppo" and backend != "modal" and not (backend is None and cfg.training.job(stage).backend == "modal"):
        require_local_runtime()  # verl and GPUs, checked before any parent stage trains
    with _progress(format is Format.text) as factory:
        record = train_stage(cfg, stage, backend=backend, progress=factory, detach=detach)
    emit(_public(record), format, _render_run)


def _public_candidate(candidate: dict[str, Any]) -> dict[str, Any]:
    """The candidate record, each stage's run in the contract's shape under ``run_records``."""
    runs = candidate.get("run_records") or {}
    return {**{k: v for k, v in candidate.items() if k != "run_records"},
            "cached": all(r.get("cached") for r in runs.values()),
            "run_records": {s: _public(r) for s, r in runs.items()}}


def _render_candidate(candidate: dict[str, Any]) -> None:
    for record in candidate["run_records"].values():
        _render_run(record)
    roles = ", ".join(f"{role.replace('_', ' ')} {candidate[role]}" for role in ("reward_model", "reference", "policy")
                      if candidate.get(role))
    tag = "recorded" if candidate.get("recorded") else "already recorded"
    out.print(f"candidate {candidate['candidate_id']} ({tag}): {escape(roles)}")
    out.print(f"gate it with `alignment-ci gate --candidate {candidate['candidate_id'][:12]}`")


def _public(record: dict[str, Any]) -> dict[str, Any]:
    """The contract's keys first: {run_key, cached, artifact, metrics, lineage}, then the rest."""
    head = {
        "run_key": record.get("run_key"),
        "cached": record.get("cached"),
        "artifact": record.get("artifact"),
        "metrics": record.get("metrics"),
        "lineage": {
            "snapshot": record.get("snapshot"),
            "batch_ids": record.get("batch_ids"),
            "raters": record.get("raters"),
            "parents": record.get("parents"),
            "git_commit": record.get("git_commit"),
        },
    }
    rest = {k: v for k, v in record.items() if k not in head and k not in ("per_step", "batches", "raters", "batch_ids", "parents", "snapshot", "git_commit")}
    return {**head, **rest}


def _render_run(record: dict[str, Any]) -> None:
    if record.get("detached"):
        out.print(f"spawned {escape(record['stage'])} on Modal: run {record['run_key'][:12]} (call {escape(record['call_id'])}); collect it with `alignment-ci train wait {record['run_key'][:12]}`")
        return
    tag = "[yellow]cached[/yellow]" if record.get("cached") else "[green]trained[/green]"
    out.print(f"{tag} {escape(str(record.get('stage')))} run {record['run_key'][:12]} → artifact {record['artifact'][:12]} on {escape(str(record.get('device')))}")
    for name, value in (record.get("metrics") or {}).items():
        out.print(f"  {escape(name)}: {_metric(value)}")


def _metric(value: object) -> str:
    """A count as a count (``n_train: 37``), a measurement to 4 decimals, anything else as text."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return escape(str(value))
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4f}"


@app.command("wait")
def wait(
    run: Annotated[str, typer.Argument(help="Run key (or its first 8+ characters) of a detached Modal run.")],
    timeout: Annotated[Optional[float], typer.Option("--timeout", help="Seconds to wait (default: until done).")] = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Wait for a detached Modal run, then store its model and record like a local run."""

    emit(_public(wait_run(_config(config), run, timeout_s=timeout)), format, _render_run)


@models_app.command("tiny")
def tiny(
    path: Annotated[Path, typer.Argument(help="Directory to write the model and tokenizer to (must not exist or be empty).")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the tokenizer and the weights.")] = 0,
    format: FormatOpt = Format.text,
) -> None:
    """Build the tiny offline Llama (2 layers, hidden 64) with a tokenizer trained on bundled text."""

    result = {"path": str(build_tiny_model(path, seed=seed))}
    emit(result, format, lambda r: out.print(f"tiny model written to {escape(r['path'])}"))
