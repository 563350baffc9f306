"""`alignment-ci queue plan|export|audit|stats`: the sampling planner and the rater queue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, out
from ..errors import InputError
from ..jsonl import read_objects, write_jsonl
from ..monitor.audit import audit_candidates, audit_error_rates, audit_errors, merged_labels
from ..monitor.embeddings import load_embedder
from ..monitor.events import read_production_events
from ..monitor.planner import bucket_shares, plan_batch, queue_items, rank_uncertain
from ..monitor.queue import enqueue as add, export_queue, open_queue, queue_stats, session_scope
from ..quality.critic import read_ranking
from ..quality.load import load_valid_batch
from ..textsafety import redact_pii

app = typer.Typer(help="The labeling queue: plan a budget across buckets, export, audit merged labels.", no_args_is_help=True)


def _jsonl(path: Path | None) -> list[dict[str, Any]]:
    return [] if path is None else [row for _, row in read_objects(path)]


def _traffic_candidates(sources: list[str]) -> list[dict[str, Any]]:
    """Random drift candidates: served responses of users who did not opt out."""
    import hashlib


    events = read_production_events(sources)
    out_rows = []
    for e in events.to_dict("records"):
        if e.get("opted_out") or not isinstance(e.get("prompt"), str) or not isinstance(e.get("response"), str):
            continue

        out_rows.append({
            "item_id": "traffic-" + hashlib.sha256(str(e["request_id"]).encode()).hexdigest()[:16],
            "prompt": redact_pii(e["prompt"]), "responses": [redact_pii(e["response"])], "task_type": "likert",
            "cohort": e.get("cohort") if isinstance(e.get("cohort"), str) else None,
            "language": e.get("language") if isinstance(e.get("language"), str) else None,
            "model_version": e.get("model_version"),
        })
    return out_rows


@app.command("plan")
def plan(
    budget: Annotated[Optional[int], typer.Option("--budget", "-n", help="Items to label.")] = None,
    failures: Annotated[Optional[Path], typer.Option("--failures", help="Flagged examples from `monitor ingest` (JSONL).")] = None,
    pool: Annotated[Optional[Path], typer.Option("--pool", help="Unlabeled pairs for active learning (JSONL: prompt, response_a, response_b[, rm_margin]).")] = None,
    labeled: Annotated[Optional[Path], typer.Option("--labeled", help="Labeled pairs (TRL JSONL: prompt, chosen, rejected) for the embedding Bradley-Terry model.")] = None,
    traffic: Annotated[Optional[list[str]], typer.Option("--traffic", help="Production events to draw random drift samples from (repeatable).")] = None,
    edge: Annotated[Optional[Path], typer.Option("--edge", help="Edge-case candidates (JSONL with item_id, prompt, responses, reason).")] = None,
    audit: Annotated[bool, typer.Option("--audit/--no-audit", help="Re-review a random sample of merged labels.")] = True,
    audit_ranking: Annotated[Optional[Path], typer.Option("--audit-ranking", help="A critic ranking (`critic triage --out`): audit the most suspicious merged labels first instead of a random sample.")] = None,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="The plan (JSON, with every item's bucket and reason).")] = Path("plan.json"),
    enqueue: Annotated[bool, typer.Option("--enqueue", help="Add the planned items to the rater queue.")] = False,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Split the labeling budget across buckets (default 40% failures, 30% uncertain, 20% random, 10% edge + audit)."""

    if budget is None:
        raise InputError("--budget is required: the number of items to label")
    cfg = _config(config)
    settings = cfg.planner
    shares = bucket_shares(cfg.sampling.budget, settings.audit_share if audit else 0.0)
    if not audit:
        shares.pop("audit", None)
    pools: dict[str, list[dict[str, Any]]] = {}
    if failures:
        pools["production_failure"] = _jsonl(failures)
    if pool:
        candidates = _jsonl(pool)
        embedder = None
        if not all(c.get("rm_margin") is not None for c in candidates) or settings.uncertainty == "embedding-bt":
            embedder = load_embedder(cfg.monitor.embedding_model)
        pools["uncertain"] = rank_uncertain(candidates, labeled=_jsonl(labeled), embedder=embedder, settings=settings)
    if traffic:
        pools["random"] = _traffic_candidates(traffic)
    if edge:
        pools["edge"] = _jsonl(edge)
    if "audit" in shares:
        pools["audit"] = audit_candidates(merged_labels(cfg), n=max(1, budget), seed=settings.seed,
                                          ranking=read_ranking(audit_ranking) if audit_ranking else None)
    pools = {k: v for k, v in pools.items() if k in shares}
    result = plan_batch(budget, pools, shares, settings)
    data = result.to_dict()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = result.to_dict(with_items=False) | {"out": str(out_path), "enqueued": None}
    if enqueue:
        with session_scope(open_queue(cfg)) as s:
            summary["enqueued"] = add(s, queue_items(result), default_dimension=cfg.taxonomy.default_dimension).to_dict()["enqueued"]
    emit(summary, format, lambda s: out.print(
        f"planned {s['selected']} of {s['budget']}: " + ", ".join(f"{escape(b)} {n}" for b, n in s["counts"].items())
        + f" → {escape(s['out'])}" + (f"; {s['enqueued']} enqueued" if s["enqueued"] is not None else "")
    ))


@app.command("export")
def export(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="JSONL of queue items.")] = Path("queue.jsonl"),
    status: Annotated[Optional[list[str]], typer.Option("--status", help="queued, assigned, done, released (repeatable; default queued+released).")] = None,
    bucket: Annotated[Optional[str], typer.Option("--bucket", help="Only this bucket.")] = None,
    dimension: Annotated[Optional[str], typer.Option("--dimension", "-d", help="Only this dimension.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="At most this many items.")] = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Write the rater queue (expedited first, then by priority) as JSONL; gold answers are never exported."""

    cfg = _config(config)
    with session_scope(open_queue(cfg)) as s:
        rows = export_queue(s, status=status or ("queued", "released"), bucket=bucket, dimension=dimension, limit=limit)
    write_jsonl(rows, out_path)
    n = len(rows)
    emit({"items": n, "out": str(out_path)}, format, lambda r: out.print(f"exported {r['items']} queue items to {escape(r['out'])}"))


@app.command("stats")
def stats(config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Queue items by status and bucket."""

    with session_scope(open_queue(_config(config))) as s:
        data = queue_stats(s)
    emit(data, format, lambda d: out.print(
        "status: " + ", ".join(f"{k} {v}" for k, v in d["status"].items())
        + "; buckets: " + (", ".join(f"{escape(k or '-')} {v}" for k, v in d["buckets"].items()) or "none")
        + f"; gold items {d['gold_items']}"
    ))


@app.command("audit")
def audit(
    plan_file: Annotated[Path, typer.Argument(help="The plan JSON whose audit items were re-reviewed.")],
    reviews: Annotated[Path, typer.Argument(help="The re-review label batch (item_id = the audit items' ids).")],
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Audit error rate per vendor and per error mode, from blind re-reviews of merged labels."""

    cfg = _config(config)
    try:
        plan_data = json.loads(plan_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{plan_file}: not a plan JSON ({exc})") from None
    df, _report = load_valid_batch(reviews, cfg)
    rates = audit_error_rates(audit_errors(plan_data.get("items") or [], df, cfg.quality.likert_tolerance))
    emit(rates, format, lambda r: out.print(
        f"audited {r['audited']}, errors {r['errors']} (rate {r['error_rate']}); "
        + "; ".join(f"{escape(v)}: {d['error_rate']}" for v, d in r["vendors"].items())
    ))
