"""`alignment-ci quality`: agreement, raters, aggregation, adjudication, training pairs,
label health, calibration and drift of one label batch."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from ..config import Config
from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, out
from ..jsonl import write_jsonl
from ..quality import agreement_report, calibrate_likert, gold_accuracy_drift, rater_report
from ..quality.adjudicate import adjudication_list
from ..quality.aggregate import aggregate
from ..quality.critic import read_ranking
from ..quality.health import label_health
from ..quality.load import load_valid_batch
from ..quality.pairs import training_pairs
from ..quality.raters import reliability_scores
from ..report import console as reporting
from ..report.render import render_health_markdown

app = typer.Typer(help="Label quality: agreement, raters, aggregation, health, training pairs.", no_args_is_help=True)


class HealthFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


class AggregationMethod(str, Enum):
    majority = "majority"
    weighted = "weighted"
    dawid_skene = "dawid-skene"
    bradley_terry = "bradley-terry"
    borda = "borda"


BatchArg = Annotated[Path, typer.Argument(help="Label batch (.jsonl, .csv or .parquet); it is validated first.")]
TaskTypeOpt = Annotated[Optional[str], typer.Option("--task-type", "-t", help="Expected task type.")]


def _batch(file: Path, cfg: Config, task_type: str | None = None):
    return load_valid_batch(file, cfg, task_type=task_type)


@app.command("agreement")
def quality_agreement(
    file: BatchArg,
    level: Annotated[Optional[str], typer.Option("--level", help="nominal, ordinal, interval or ratio (default: nominal for pairwise/ranking, ordinal for likert).")] = None,
    weights: Annotated[Optional[str], typer.Option("--weights", help="Cohen's kappa weights: linear or quadratic.")] = None,
    bootstrap: Annotated[Optional[int], typer.Option("--bootstrap", help="Bootstrap resamples for alpha's 95% interval (0: none).")] = None,
    task_type: TaskTypeOpt = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Inter-rater agreement per dimension: Krippendorff's alpha, Fleiss', Cohen's kappa, % agreement."""

    cfg = _config(config)
    df, _ = _batch(file, cfg, task_type)
    result = agreement_report(df, cfg, level=level, weights=weights, bootstrap_samples=bootstrap)
    emit(result, format, lambda r: _render("render_agreement", r))
    raise typer.Exit(1 if result.get("verdict") == "fail" else 0)


@app.command("raters")
def quality_raters(file: BatchArg, task_type: TaskTypeOpt = None, config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Per-rater reliability: gold accuracy, agreement with consensus, speed, position bias, flags."""

    cfg = _config(config)
    df, _ = _batch(file, cfg, task_type)
    emit(rater_report(df, cfg), format, lambda r: _render("render_raters", r))


@app.command("aggregate")
def quality_aggregate(
    file: BatchArg,
    method: Annotated[AggregationMethod, typer.Option("--method", "-m", help="How judgments become one label per item.")] = AggregationMethod.majority,
    position_effect: Annotated[bool, typer.Option("--position-effect", help="Bradley-Terry: fit a first-shown effect, reported as position_bias.")] = False,
    gold_pinned: Annotated[bool, typer.Option("--gold-pinned/--no-gold-pinned", help="Dawid-Skene: pin gold items to their answers.")] = True,
    task_type: TaskTypeOpt = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.json,
) -> None:
    """Aggregate judgments: majority, reliability-weighted, Dawid-Skene, Bradley-Terry or Borda."""

    cfg = _config(config)
    df, _ = _batch(file, cfg, task_type)
    weights = reliability_scores(df, cfg) if method is AggregationMethod.weighted else None
    result = aggregate(df, method.value, weights=weights, gold_pinned=gold_pinned, position_effect=position_effect, config=cfg)
    emit(result, format, lambda r: _render("render_aggregate", r))


@app.command("adjudicate")
def quality_adjudicate(
    file: BatchArg,
    out_file: Annotated[Path, typer.Option("--out", "-o", help="JSONL file to write the adjudication list to.")],
    ranking: Annotated[Optional[Path], typer.Option("--ranking", help="A critic ranking (`critic triage --out`): add the items contradicting a confident critic and order by it.")] = None,
    task_type: TaskTypeOpt = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Write items whose judgments disagree on a critical dimension, with the competing judgments."""

    cfg = _config(config)
    df, _ = _batch(file, cfg, task_type)
    items = adjudication_list(df, cfg, likert_tolerance=cfg.quality.adjudication_likert_tolerance,
                              ranking=read_ranking(ranking) if ranking else None)
    write_jsonl(items, out_file)
    result = {"items": len(items), "out": str(out_file)}
    emit(result, format, lambda r: out.print(f"{r['items']} item(s) need adjudication → {escape(r['out'])}"))


@app.command("pairs")
def quality_pairs(
    file: BatchArg,
    out_file: Annotated[Path, typer.Option("--out", "-o", help="JSONL file of TRL preference pairs.")],
    method: Annotated[AggregationMethod, typer.Option("--method", "-m", help="Aggregation behind each pair.")] = AggregationMethod.dawid_skene,
    min_confidence: Annotated[Optional[float], typer.Option("--min-confidence", help="Exclude pairs below this confidence (default: quality.pair_min_confidence).")] = None,
    task_type: TaskTypeOpt = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Training pairs in TRL's format (prompt, chosen, rejected, weight + lineage fields)."""

    cfg = _config(config)
    df, _ = _batch(file, cfg, task_type)
    weights = reliability_scores(df, cfg) if method is AggregationMethod.weighted else None
    pairs, excluded = training_pairs(
        df, method.value, cfg, weights=weights, min_confidence=min_confidence, include_gold=cfg.quality.pairs_include_gold
    )
    write_jsonl(pairs, out_file)
    result = {"n_pairs": len(pairs), "n_excluded": sum(excluded.values()), "excluded": excluded, "out": str(out_file)}
    emit(result, format, lambda r: out.print(
        f"{r['n_pairs']} pair(s) → {escape(r['out'])}; excluded {r['n_excluded']} "
        f"({', '.join(f'{k}: {v}' for k, v in r['excluded'].items()) or 'none'})"
    ))


@app.command("health")
def quality_health(
    file: BatchArg,
    task_type: TaskTypeOpt = None,
    config: ConfigOpt = None,
    format: Annotated[HealthFormat, typer.Option("--format", "-f", help="text, json, or markdown (the PR report's section).")] = HealthFormat.text,
) -> None:
    """The label-health summary a reviewer reads first (JSON, or the PR report's Markdown)."""

    cfg = _config(config)
    df, report = _batch(file, cfg, task_type)
    counts: dict[str, int] = {}
    for issue in report.warnings:
        counts[issue.kind] = counts.get(issue.kind, 0) + 1
    health = label_health(df, cfg, warnings=counts)
    if format is HealthFormat.markdown:
        sys.stdout.write(render_health_markdown(health))
    else:
        emit(health, Format(format.value), lambda h: _render("render_health", h))


@app.command("calibrate")
def quality_calibrate(
    file: BatchArg,
    cohort: Annotated[Optional[str], typer.Option("--cohort", help="Column whose values are cohorts (e.g. batch_id, sampling_bucket).")] = None,
    by_period: Annotated[Optional[str], typer.Option("--by-period", help="Cohorts by labeled_at period instead (pandas alias: D, W, M).")] = None,
    method: Annotated[str, typer.Option("--method", help="offset or linear re-anchoring.")] = "offset",
    task_type: TaskTypeOpt = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.json,
) -> None:
    """Re-anchor likert ratings per cohort and per rater against gold items; prints the adjustments."""

    cfg = _config(config)
    df, _ = _batch(file, cfg, task_type)
    emit(calibrate_likert(df, cfg, cohort=cohort, cohort_freq=by_period, method=method).to_dict(), format)


@app.command("drift")
def quality_drift(
    file: BatchArg,
    freq: Annotated[Optional[str], typer.Option("--freq", help="Period (pandas alias: D, W, M); default quality.drift_freq.")] = None,
    task_type: TaskTypeOpt = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.json,
) -> None:
    """Drift of each rater's gold accuracy over time (labeled_at)."""

    cfg = _config(config)
    df, _ = _batch(file, cfg, task_type)
    emit(gold_accuracy_drift(df, cfg, freq=freq), format)


def _render(name: str, data: Any) -> None:
    getattr(reporting, name)(out, data)
