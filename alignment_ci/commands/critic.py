"""`alignment-ci critic …`: a critic model pre-scores a batch; triage, agreement, anchoring and prefill."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..config import Config
from ..atomic import write_atomic
from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, out
from ..errors import InputError
from ..evals.critics import read_scores, resolve_critic, score_batch
from ..formats.prefill import agent_name, argilla_records, labelstudio_tasks, queue_items, suggestions
from ..monitor.queue import enqueue, open_queue, session_scope
from ..quality.critic import anchoring, critic_agreement, critic_view, triage
from ..quality.load import load_valid_batch

# The library modules behind these commands load pandas (and a critic, torch): imported in the
# commands, so `alignment-ci --help` stays light (tests/test_cli.py).

app = typer.Typer(help="AI-assisted rating: critic scores beside a batch, disagreement triage, prefill, anchoring.")

BatchArg = Annotated[Path, typer.Argument(help="A label batch (JSONL, CSV or Parquet).", exists=False)]
ScoresOpt = Annotated[Path, typer.Option("--scores", "-s", help="Critic scores from `critic score --out`.")]


def _batch(file: Path, cfg: Config):  # noqa: ANN202

    df, _ = load_valid_batch(file, cfg)
    return df


@app.command("score")
def critic_score(
    file: BatchArg,
    critic: Annotated[str, typer.Option("--critic", help="A reward run (run key ≥ 8 chars or artifact hash), a model directory, or a model name in the local Hugging Face cache.")],
    out_file: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the scores (JSON Lines, a header line naming the critic) here.")] = None,
    positive_label: Annotated[Optional[str], typer.Option("--positive-label", help="For a classifier critic: the label whose log-probability is the score (default: the last label).")] = None,
    revision: Annotated[Optional[str], typer.Option("--revision", help="For a hub model name: the revision to load from the local cache.")] = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Score every response of a pairwise batch with a critic. The scores go beside the batch, never in place of
    human labels: into the artifact store with a `critic_scores` entry in the batch's manifest and a lineage
    entry when the batch is ingested, and/or to --out."""

    cfg = _config(config)
    df = _batch(file, cfg)
    batch_id = str(df["batch_id"].iloc[0]) if len(df) else None
    model = resolve_critic(cfg, critic, positive_label=positive_label, revision=revision)
    result = score_batch(cfg, df, model, out=out_file, batch_id=batch_id)
    if result.manifest is None and out_file is None:
        raise InputError(f"batch {batch_id!r} is not ingested (no manifest): give --out FILE to keep the scores")
    emit(result.to_dict(), format, lambda r: out.print(
        f"scored {r['items']} item(s) with {escape(agent_name(r['critic']))}"
        + (f" → store {r['sha256'][:12]}, manifest {escape(r['manifest'])}" if r["manifest"] else "")
        + (f" → {escape(r['out'])}" if r["out"] else "")))


@app.command("triage")
def critic_triage(
    file: BatchArg,
    scores: ScoresOpt,
    out_file: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the whole ranking as JSON Lines (for `quality adjudicate --ranking` and `queue audit-plan --ranking`).")] = None,
    top: Annotated[int, typer.Option("--top", help="Items to print.")] = 10,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Rank items for adjudication and audits: the consensus contradicting a confident critic first, then an
    unsure critic with split raters."""

    cfg = _config(config)
    df = _batch(file, cfg)
    table, _ = read_scores(scores)
    ranked = triage(df, table, cfg.critic)
    records = json.loads(ranked.to_json(orient="records"))
    if out_file is not None:
        write_atomic(out_file, "".join(json.dumps(r) + "\n" for r in records))
    counts = ranked["category"].value_counts().to_dict() if len(ranked) else {}
    result = {"items": len(records), "categories": counts, "top": records[:top], "out": str(out_file) if out_file else None}

    def render(r: dict) -> None:
        out.print(f"{r['items']} item(s): {r['categories'].get('contradicts', 0)} contradict a confident critic, "
                  f"{r['categories'].get('unsure_split', 0)} unsure critic with split raters")
        for rec in r["top"]:
            out.print(f"  {rec['rank']:>3}. {escape(str(rec['item_id']))} [{escape(str(rec['dimension']))}] {escape(rec['reason'])}")

    emit(result, format, render)


@app.command("review")
def critic_review(
    file: BatchArg,
    scores: Annotated[Optional[Path], typer.Option("--scores", "-s", help="Critic scores (`critic score --out`); without them only the anchoring check runs.")] = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Critic agreement with the consensus (per dimension and per rater, with the stronger flag) and the
    anchoring check on gold items that carried a deliberately wrong suggestion. Exit 1 when a rater is flagged."""

    cfg = _config(config)
    df = _batch(file, cfg)
    result: dict = {"anchoring": anchoring(df, cfg.critic)}
    if scores is not None:
        table, header = read_scores(scores)
        result["critic"] = header.get("critic")
        result["agreement"] = critic_agreement(df, table, cfg.critic)
    flagged = sorted(set(result["anchoring"]["flagged_raters"]) | set((result.get("agreement") or {}).get("flagged_raters", [])))
    result["flagged_raters"] = flagged

    def render(r: dict) -> None:
        agreement = r.get("agreement")
        if agreement:
            for dim, d in agreement["dimensions"].items():
                share = "n/a" if d["agreement"] is None else f"{d['agreement']:.0%}"
                out.print(f"{escape(dim)}: critic agrees with the consensus on {share} of {d['items']} item(s)")
            for rid in agreement["flagged_raters"]:
                out.print(f"  flagged {escape(rid)}: {escape(agreement['raters'][rid]['reason'])}")
        a = r["anchoring"]
        out.print(f"anchoring: {a['wrong_suggestions']} wrong suggestion(s) shown on gold items")
        for rid in a["flagged_raters"]:
            out.print(f"  flagged {escape(rid)}: {escape(a['raters'][rid]['reason'])}")

    emit(result, format, render)
    if flagged:
        raise typer.Exit(1)


@app.command("prefill")
def critic_prefill(
    file: BatchArg,
    scores: ScoresOpt,
    tool: Annotated[str, typer.Option("--tool", help="`labelstudio` (tasks with predictions), `argilla` (records with suggestions) or `queue` (enqueued in the rater queue; the bridge serves the suggestion with GET /v1/tasks?suggestions=true).")],
    out_file: Annotated[Optional[Path], typer.Option("--out", "-o", help="JSON file to import into the tool (labelstudio, argilla).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the anchoring probe (which gold items get a wrong suggestion).")] = 0,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Export the batch's items with the critic's suggestions where raters work. Critical dimensions get at most a
    text hint (critic.critical_prefill), never a preselected answer; a share of gold items gets a deliberately wrong
    suggestion (critic.anchoring.wrong_suggestion_rate)."""
    if tool not in ("labelstudio", "argilla", "queue"):
        raise InputError(f"--tool {tool!r}: expected labelstudio, argilla or queue")
    if tool != "queue" and out_file is None:
        raise InputError(f"--tool {tool}: give --out FILE for the file to import")

    cfg = _config(config)
    df = _batch(file, cfg)
    table, header = read_scores(scores)
    view = critic_view(df, table, cfg.critic)
    sugg = suggestions(df, view, cfg, seed=seed)
    name = agent_name(header.get("critic") or {"kind": "model", "model": scores.name, "revision": ""})
    modes = sugg["mode"].value_counts().to_dict()
    result = {"tool": tool, "prefilled": int(modes.get("prefill", 0)), "hints": int(modes.get("hint", 0)),
              "wrong_probes": int(sugg["wrong_probe"].sum()), "out": str(out_file) if out_file else None}
    if tool == "queue":
        items = queue_items(df, sugg, name)
        with session_scope(open_queue(cfg)) as s:
            added = enqueue(s, items, default_dimension=cfg.taxonomy.default_dimension)
        result.update(items=len(items), enqueued=len(added.ids), out="the rater queue")
    else:
        payload = labelstudio_tasks(df, sugg, name) if tool == "labelstudio" else argilla_records(df, sugg, name)
        write_atomic(out_file, json.dumps(payload, indent=1, ensure_ascii=False))
        result["items"] = len(payload)
    emit(result, format, lambda r: out.print(
        f"{r['items']} {escape(tool)} item(s) → {escape(r['out'])}: {r['prefilled']} prefilled, {r['hints']} hint(s) on "
        f"critical dimensions, {r['wrong_probes']} gold item(s) with a deliberately wrong suggestion"))
