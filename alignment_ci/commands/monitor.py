"""`alignment-ci monitor ingest EVENTS`: production events -> prioritised examples for labeling."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, out
from ..jsonl import write_jsonl
from ..monitor.embeddings import load_embedder
from ..monitor.events import read_production_events
from ..monitor.planner import Plan, queue_items
from ..monitor.queue import enqueue as add, open_queue, session_scope
from ..monitor.triage import triage
from ..store import open_store

app = typer.Typer(help="Production monitoring: failure signals and triage into the rater queue.", no_args_is_help=True)


@app.command("ingest")
def ingest(
    events: Annotated[list[str], typer.Argument(help="Events: JSONL/Parquet files, directories, globs or store:<sha256>.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Flagged examples (JSONL), highest priority first.")] = Path("flagged.jsonl"),
    links: Annotated[Optional[Path], typer.Option("--links", help="Hashed user ids per example, kept apart (default: OUT with .users.jsonl).")] = None,
    enqueue: Annotated[bool, typer.Option("--enqueue", help="Also add the examples to the rater queue (bridge.database_url).")] = False,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Detect failure signals, group near-duplicate prompts, rank by severity x frequency x customer value."""

    cfg = _config(config)
    settings = cfg.monitor
    store = open_store(cfg) if any(e.startswith("store:") for e in events) else None
    frame = read_production_events(events, store=store)
    result = triage(frame, load_embedder(settings.embedding_model), settings, dimensions=cfg.taxonomy.names,
                    default_dimension=cfg.taxonomy.default_dimension)
    links_path = links or out_path.with_name(out_path.name.removesuffix(".jsonl") + ".users.jsonl")
    write_jsonl(result.items, out_path)
    write_jsonl(result.user_links, links_path)
    summary = {**result.stats, "out": str(out_path), "links": str(links_path), "enqueued": None}
    if enqueue:
        plan = Plan(budget=len(result.items), shares={}, allocation={}, items=result.items)
        with session_scope(open_queue(cfg)) as s:
            summary["enqueued"] = add(s, queue_items(plan), default_dimension=cfg.taxonomy.default_dimension).to_dict()["enqueued"]
    emit(summary, format, lambda s: out.print(
        f"{s['events']} events, {s['opted_out_dropped']} opted out, {s['failing_events']} failing → "
        f"{s['groups']} examples ({s['expedited']} expedited) in {escape(s['out'])}"
        + (f"; {s['enqueued']} enqueued" if s["enqueued"] is not None else "")
    ))
