"""`alignment-ci baseline show|set`: the production candidate the regression gates compare against.

A rollout that reaches 100% records its candidate as the baseline; `baseline set` does it by
hand (the first model, or an override), with a reason kept in the store and the lineage log.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from ..candidates import baseline_history, production_baseline, resolve_candidate, set_baseline
from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, out
from ..errors import InputError
from ..store import open_store

app = typer.Typer(help="The production baseline: the candidate record the regression gates compare against.",
                  no_args_is_help=True)


def _roles(candidate: dict[str, Any] | None) -> str:
    if not candidate:
        return "(candidate record missing from the store)"
    runs = candidate.get("runs") or {}
    return ", ".join(f"{role.replace('_', ' ')} {candidate[role]} {runs[candidate[role]]['run_key'][:12]}"
                     for role in ("reward_model", "reference", "policy") if candidate.get(role))


def _render(data: dict[str, Any]) -> None:
    current = data["baseline"]
    if current is None:
        out.print("first model: no baseline (a rollout that reaches 100% records one, or "
                  "`alignment-ci baseline set CANDIDATE --reason ...`)")
        return
    out.print(f"baseline #{current['seq']}: candidate {current['candidate_id']}")
    out.print(f"  {escape(_roles(current.get('candidate')))}")
    out.print(f"  set by {escape(current['set_by'])} at {escape(current['at'])}: {escape(current['reason'])}")
    if data.get("history"):
        out.print(f"  {len(data['history'])} baseline record(s) in all")


@app.command("show")
def show(
    history: Annotated[bool, typer.Option("--history", help="Also list every earlier baseline.")] = False,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """The baseline in force (null when none was ever set: the first model), with its candidate record."""
    store = open_store(_config(config))
    data: dict[str, Any] = {"baseline": production_baseline(store)}
    if history:
        data["history"] = baseline_history(store)
    emit(data, format, _render)


@app.command("set")
def set_(
    candidate: Annotated[str, typer.Argument(help="A candidate id, or the run key of any run in one (8+ characters).")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the store and the lineage log).")] = "",
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Make CANDIDATE the production baseline (a first model, or an override of the rollout's)."""
    if not reason.strip():
        raise InputError("baseline set needs --reason: say why this candidate is the production baseline")
    store = open_store(_config(config))
    record = set_baseline(store, resolve_candidate(store, candidate), set_by="manual", reason=reason)
    emit({"baseline": record, "changed": record.get("changed", True)}, format, _render)
