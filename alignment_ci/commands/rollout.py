"""`alignment-ci rollout`: staged rollout with automatic rollback (one verb, one library call)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from ..config import Config
from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, out
from ..errors import InputError
from ..jsonl import write_jsonl
from ..rollout import controller, simulator
from ..rollout.deployments import publish as publish_deployment
from ..rollout.plan import plan_from_config
from ..rollout.routers import make_router

app = typer.Typer(help="Staged rollout: canary 2% → 10% → 50% → 100% with automatic rollback.", no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(help="Rollout id (letters, digits, '.', '_', '-').")]
PublishOpt = Annotated[bool, typer.Option("--publish", help="Also post the decision as a deployment status on the forge.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (kept in the decision record and lineage).")]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who decides (e.g. the release manager's login).")]
NowOpt = Annotated[Optional[str], typer.Option("--now", help="Decision time, ISO-8601 (default: the clock); for replays and simulations.")]


def _now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"--now {value!r} is not an ISO-8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _finish(config: Config, store, result: dict[str, Any], publish: bool, format: Format) -> None:
    if publish:
        result = {**result, "deployment": publish_deployment(config, store, result)}
    emit(result, format, _render)
    if result.get("status") == "rolled_back" or result.get("outcome") == "rollback":
        raise typer.Exit(1)


def _render(r: dict[str, Any]) -> None:
    from rich.table import Table

    d = r.get("decision", {})
    colour = {"completed": "green", "rolled_back": "red", "aborted": "red", "paused": "yellow"}.get(r["status"], "cyan")
    state = r["status"].replace("_", " ")
    if r.get("pause_reason"):
        state += f" — {r['pause_reason']}"
    stages = " → ".join(f"{p:g}%" for p in r["stages"])
    out.print(f"rollout {escape(r['rollout_id'])}: [{colour}]{escape(state)}[/{colour}] — candidate "
              f"{escape(r['candidate'])} at {r['percent']:g}% (stages {stages})")
    if d:
        outcome = r.get("pause_reason") if d.get("outcome") == "inconclusive" and r.get("pause_reason") else d.get("outcome")
        out.print(f"  decision #{d.get('seq')}: {escape(str(d.get('action')))} → {escape(str(outcome))}")
        for reason in d.get("reasons") or []:
            out.print(f"    {escape(str(reason))}")
    rows = r.get("evidence") or []
    if rows:
        table = Table(title="evidence (candidate vs baseline)", title_justify="left", show_edge=False)
        for column, justify in (("metric", "left"), ("candidate", "right"), ("baseline", "right"),
                                ("difference", "right"), ("e-value", "right"), ("verdict", "left")):
            table.add_column(column, justify=justify)
        for row in rows:
            shown = row["shown"]
            table.add_row(escape(row["metric"]), f"{shown['candidate']} (n={row['candidate_n']})",
                          f"{shown['baseline']} (n={row['baseline_n']})", shown["difference"],
                          f"{shown['evalue']} / {row['rollback_at']:g}", escape(row["verdict"]))
        out.print(table)


@app.command("start")
def start(
    rollout_id: IdArg,
    baseline: Annotated[str, typer.Option("--baseline", help="Model version serving now.")],
    candidate: Annotated[str, typer.Option("--candidate", help="Model version to roll out.")],
    actor: ActorOpt = "alignment-ci",
    force: Annotated[bool, typer.Option("--force", help="Start a candidate that an earlier rollout rolled back (needs --reason).")] = False,
    reason: ReasonOpt = "",
    publish: PublishOpt = False,
    now: NowOpt = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Start a rollout: decision 0 records the plan; the first stage's share goes to the candidate.

    A candidate an earlier rollout rolled back is refused unless --force --reason (recorded).
    """

    cfg = _config(config)
    store = controller.open_rollout_store(cfg)
    result = controller.start(store, rollout_id, baseline, candidate, plan_from_config(cfg), actor=actor, now=_now(now),
                              force=force, reason=reason)
    _finish(cfg, store, result, publish, format)


@app.command("step")
def step(
    rollout_id: IdArg,
    events: Annotated[list[str], typer.Option("--events", "-e", help="Production events: file, directory, glob or store:<sha256> (repeatable).")],
    publish: PublishOpt = False,
    now: NowOpt = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Analyse candidate vs baseline events and decide: promote, continue, rollback or inconclusive. Exit 1 on rollback."""

    cfg = _config(config)
    store = controller.open_rollout_store(cfg)
    _finish(cfg, store, controller.step(store, rollout_id, events, now=_now(now)), publish, format)


@app.command("status")
def status(rollout_id: IdArg, config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Where a rollout stands: stage, weights, last decision and its evidence."""

    cfg = _config(config)
    emit(controller.status(controller.open_rollout_store(cfg), rollout_id), format, _render)


@app.command("promote")
def promote(rollout_id: IdArg, actor: ActorOpt = "human", reason: ReasonOpt = "", publish: PublishOpt = False, now: NowOpt = None, config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Move to the next stage now (a release manager's approval; also unpauses)."""

    cfg = _config(config)
    store = controller.open_rollout_store(cfg)
    _finish(cfg, store, controller.promote(store, rollout_id, actor=actor, reason=reason, now=_now(now)), publish, format)


@app.command("abort")
def abort(rollout_id: IdArg, actor: ActorOpt = "human", reason: ReasonOpt = "", publish: PublishOpt = False, now: NowOpt = None, config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Send all traffic back to the baseline and end the rollout (safe to repeat)."""

    cfg = _config(config)
    store = controller.open_rollout_store(cfg)
    result = controller.abort(store, rollout_id, actor=actor, reason=reason, now=_now(now))
    if publish:
        result = {**result, "deployment": publish_deployment(cfg, store, result)}
    emit(result, format, _render)


@app.command("resume")
def resume(rollout_id: IdArg, publish: PublishOpt = False, now: NowOpt = None, config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Finish a decision a crashed run left half-applied, then print the status."""

    cfg = _config(config)
    store = controller.open_rollout_store(cfg)
    _finish(cfg, store, controller.resume(store, rollout_id, now=_now(now)), publish, format)


@app.command("simulate")
def simulate(
    out_file: Annotated[Path, typer.Option("--out", "-o", help="JSONL file of simulated production events.")],
    percent: Annotated[float, typer.Option("--percent", help="Candidate's traffic share, in percent.")],
    minutes: Annotated[float, typer.Option("--minutes", help="Minutes of traffic.")] = 60.0,
    per_minute: Annotated[float, typer.Option("--per-minute", help="Events per minute, both models together.")] = 200.0,
    regress: Annotated[Optional[float], typer.Option("--regress", help="Multiply the candidate's bad-event rates by this (e.g. 1.6); default healthy.")] = None,
    baseline: Annotated[str, typer.Option("--baseline")] = "model-baseline",
    candidate: Annotated[str, typer.Option("--candidate")] = "model-candidate",
    start_at: Annotated[Optional[str], typer.Option("--start", help="ISO time of the first event (default: now, so the "
                                                    "traffic is the next MINUTES; `rollout step` reads its time from the newest event).")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    format: FormatOpt = Format.text,
) -> None:
    """Simulated production traffic (healthy or regressed candidate) for demos and tests."""

    scenario = simulator.healthy() if regress is None else simulator.regressed(
        {"thumbs_down": regress, "escalated": regress, "safety_flag": regress, "hallucination_flag": regress}
    )
    sim = simulator.TrafficSimulator(scenario, baseline, candidate, events_per_minute=per_minute, seed=seed)
    # Simulated traffic runs ahead of the clock from now; `rollout step` without --now takes
    # the newest event's time, so a step after a simulate sees the simulated stage whole.
    begin = _now(start_at) or datetime.now(timezone.utc)
    events = sim.emit(begin, begin + timedelta(minutes=minutes), percent)
    write_jsonl(events, out_file)
    emit({"events": len(events), "out": str(out_file)}, format, lambda r: out.print(f"{r['events']} events → {escape(r['out'])}"))


@app.command("current")
def current(config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """The routing table in force and the model that serves most traffic (today's production model)."""

    router = make_router(plan_from_config(_config(config)).router)
    table = router.current()
    if not table or not table.get("weights"):
        raise InputError(f"no routing table at {router.describe()}: no rollout has applied one (or this router cannot be read back)")
    production = max(table["weights"].items(), key=lambda kv: kv[1])[0]
    result = {"production": production, "router": router.describe(), **table}
    emit(result, format, lambda r: out.print(f"production: [bold]{escape(r['production'])}[/bold] — weights {escape(str(r['weights']))} ({escape(r['router'])})"))
