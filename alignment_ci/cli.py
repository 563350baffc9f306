"""The `alignment-ci` command line: one small command per verb, each calling the library.

Heavy libraries (torch, transformers, pandas, pyarrow) are imported inside the commands
that need them, so `alignment-ci --help` starts fast and without torch.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from .errors import AlignmentCIError

app = typer.Typer(
    name="alignment-ci",
    help="Continuous integration for RLHF: validate label batches, measure label quality, "
    "train, gate, report and roll out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Show the resolved alignment.yaml.", no_args_is_help=True)
manifest_app = typer.Typer(help="Dataset manifests: verify them, hash the snapshot.", no_args_is_help=True)
lineage_app = typer.Typer(help="The hash-chained lineage log.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(manifest_app, name="manifest")
app.add_typer(lineage_app, name="lineage")
quality_app = typer.Typer(help="Label quality: agreement, raters, aggregation, health, training pairs.", no_args_is_help=True)
app.add_typer(quality_app, name="quality")

from .cli_common import ConfigOpt, Format, FormatOpt, _config, emit, err, out  # noqa: E402
from .commands import train as _train_commands  # noqa: E402

app.add_typer(_train_commands.app, name="train")
app.add_typer(_train_commands.models_app, name="models")
from .commands import rollout as _rollout_commands  # noqa: E402

app.add_typer(_rollout_commands.app, name="rollout")
from .commands import report as _report_commands  # noqa: E402

app.add_typer(_report_commands.app, name="report")
from .commands import changes as _changes_commands  # noqa: E402
from .commands import gate as _gate_commands  # noqa: E402

manifest_app.command("changed")(_changes_commands.manifest_changed)
app.add_typer(_gate_commands.app, name="gate")
from .commands import baseline as _baseline_commands  # noqa: E402

app.add_typer(_baseline_commands.app, name="baseline")
from .commands import cost as _cost_commands  # noqa: E402
from .commands import importers as _import_commands  # noqa: E402
from .commands import monitor as _monitor_commands  # noqa: E402
from .commands import queue as _queue_commands  # noqa: E402
from .commands import retrain as _retrain_commands  # noqa: E402

app.add_typer(_import_commands.app, name="import")
app.add_typer(_import_commands.labelstudio_app, name="labelstudio")
app.add_typer(_monitor_commands.app, name="monitor")
app.add_typer(_queue_commands.app, name="queue")
app.add_typer(_cost_commands.app, name="cost")
app.add_typer(_retrain_commands.app, name="retrain")
from .commands import bridge as _bridge_commands  # noqa: E402

app.add_typer(_bridge_commands.app, name="bridge")


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


# --------------------------------------------------------------------------- config


@config_app.command("show")
def config_show(config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Print the resolved configuration (the file merged over the built-in defaults)."""
    import yaml

    from .config import config_to_dict

    data = config_to_dict(_config(config))
    if format is Format.json:
        emit(data, format)
    else:
        out.print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="", markup=False)


# ------------------------------------------------------------------------ validate


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="Label batch: .jsonl, .csv or .parquet.")],
    task_type: Annotated[Optional[str], typer.Option("--task-type", "-t", help="Expected task type: pairwise, likert or ranking.")] = None,
    scale: Annotated[Optional[str], typer.Option("--scale", help="Likert scale MIN..MAX (default: each dimension's scale from the config).")] = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Validate a label batch against the data contract. Exit 0 accepted, 1 rejected, 2 input error."""
    from .config import Scale
    from .data.validate import validate_file
    from .errors import InputError

    cfg = _config(config)
    parsed_scale = None
    if scale is not None:
        try:
            parsed_scale = Scale.parse(scale)
        except ValueError as exc:
            raise InputError(f"--scale: {exc}") from None
    report = validate_file(file, cfg, task_type=task_type, scale=parsed_scale)
    emit(report.to_dict(), format, lambda _: _render_validation(file, report))
    raise typer.Exit(0 if report.accepted else 1)


def _render_validation(file: Path, report) -> None:
    from .reporting import render_issues

    render_issues(out, file, report)


# -------------------------------------------------------------------------- ingest


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="Label batch to ingest.")],
    vendor: Annotated[str, typer.Option("--vendor", "-v", help="Vendor that delivered the batch.")],
    task_type: Annotated[Optional[str], typer.Option("--task-type", "-t", help="Expected task type.")] = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Validate, store by sha256 and write datasets_manifest/batches/VENDOR/BATCH.yaml."""
    from .data.manifest import ingest_batch

    result = ingest_batch(file, vendor, _config(config), task_type=task_type)
    emit(result.to_dict(), format, lambda _: _render_ingest(file, result))
    raise typer.Exit(0 if result.accepted else 1)


def _render_ingest(file: Path, result) -> None:
    from .reporting import render_ingest

    render_ingest(out, file, result)


# ------------------------------------------------------------------------ manifest


@manifest_app.command("verify")
def manifest_verify(config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Check every manifest against the store (blob present, hash and row count match)."""
    from .data.manifest import verify_manifests

    result = verify_manifests(_config(config))
    emit(result, format, lambda r: _render_problems(r, "manifests"))
    raise typer.Exit(0 if result["ok"] else 1)


@manifest_app.command("snapshot")
def manifest_snapshot(config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Print the dataset snapshot hash: sha256 over the sorted batch hashes."""
    from .data.manifest import snapshot

    result = snapshot(_config(config))
    emit(result, format, lambda r: out.print(r["snapshot"]))


def _render_problems(result: dict, what: str) -> None:
    if result["ok"]:
        out.print(f"[green]ok[/green]: {result['checked']} {what} verified")
        return
    for problem in result["problems"]:
        text = f"seq {problem['seq']}: {problem['message']}" if isinstance(problem, dict) else str(problem)
        out.print(f"[red]error[/red]: {escape(text)}")
    out.print(f"{len(result['problems'])} problem(s) in {result['checked']} {what}")


# ------------------------------------------------------------------------- lineage


@lineage_app.command("verify")
def lineage_verify(
    expected_head: Annotated[Optional[str], typer.Option("--expected-head", help="Hash the newest entry must have (anchors the tail).")] = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Check the lineage log's hash chain: any edited, dropped or reordered entry fails."""
    from .lineage import open_lineage

    result = open_lineage(_config(config)).verify(expected_head).to_dict()
    emit(result, format, lambda r: _render_problems(r, "lineage entries"))
    raise typer.Exit(0 if result["ok"] else 1)


@lineage_app.command("show")
def lineage_show(
    subject: Annotated[str, typer.Argument(help="An artifact, batch or source hash.")],
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Walk the lineage log back from SUBJECT to the batches and raters it came from."""
    from .lineage import open_lineage

    entries = [e.to_dict() for e in open_lineage(_config(config)).walk(subject)]
    if not entries:
        from .errors import InputError

        raise InputError(f"no lineage entry names {subject!r}")
    emit({"subject": subject, "entries": entries}, format, _render_lineage)


def _render_lineage(data: dict) -> None:
    from .reporting import render_lineage

    render_lineage(out, data)


# ------------------------------------------------------------------------- quality

BatchArg = Annotated[Path, typer.Argument(help="Label batch (.jsonl, .csv or .parquet); it is validated first.")]
TaskTypeOpt = Annotated[Optional[str], typer.Option("--task-type", "-t", help="Expected task type.")]


def _batch(file: Path, cfg, task_type: str | None = None):
    from .quality.load import load_valid_batch

    return load_valid_batch(file, cfg, task_type=task_type)


@quality_app.command("agreement")
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
    from .quality import agreement_report

    cfg = _config(config)
    df, _ = _batch(file, cfg, task_type)
    result = agreement_report(df, cfg, level=level, weights=weights, bootstrap_samples=bootstrap)
    emit(result, format, lambda r: _render("render_agreement", r))
    raise typer.Exit(1 if result.get("verdict") == "fail" else 0)


@quality_app.command("raters")
def quality_raters(file: BatchArg, task_type: TaskTypeOpt = None, config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """Per-rater reliability: gold accuracy, agreement with consensus, speed, position bias, flags."""
    from .quality import rater_report

    cfg = _config(config)
    df, _ = _batch(file, cfg, task_type)
    emit(rater_report(df, cfg), format, lambda r: _render("render_raters", r))


@quality_app.command("aggregate")
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
    from .quality.aggregate import aggregate
    from .quality.raters import reliability_scores

    cfg = _config(config)
    df, _ = _batch(file, cfg, task_type)
    weights = reliability_scores(df, cfg) if method is AggregationMethod.weighted else None
    result = aggregate(df, method.value, weights=weights, gold_pinned=gold_pinned, position_effect=position_effect, config=cfg)
    emit(result, format, lambda r: _render("render_aggregate", r))


@quality_app.command("adjudicate")
def quality_adjudicate(
    file: BatchArg,
    out_file: Annotated[Path, typer.Option("--out", "-o", help="JSONL file to write the adjudication list to.")],
    task_type: TaskTypeOpt = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Write items whose judgments disagree on a critical dimension, with the competing judgments."""
    from .quality.adjudicate import adjudication_list
    from .quality.pairs import write_jsonl

    cfg = _config(config)
    df, _ = _batch(file, cfg, task_type)
    items = adjudication_list(df, cfg, likert_tolerance=cfg.quality.adjudication_likert_tolerance)
    write_jsonl(items, out_file)
    result = {"items": len(items), "out": str(out_file)}
    emit(result, format, lambda r: out.print(f"{r['items']} item(s) need adjudication → {escape(r['out'])}"))


@quality_app.command("pairs")
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
    from .quality.pairs import training_pairs, write_jsonl
    from .quality.raters import reliability_scores

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


@quality_app.command("health")
def quality_health(
    file: BatchArg,
    task_type: TaskTypeOpt = None,
    config: ConfigOpt = None,
    format: Annotated[HealthFormat, typer.Option("--format", "-f", help="text, json, or markdown (the PR report's section).")] = HealthFormat.text,
) -> None:
    """The label-health summary a reviewer reads first (JSON, or the PR report's Markdown)."""
    from .quality.health import label_health
    from .report.render import render_health_markdown

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


@quality_app.command("calibrate")
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
    from .quality import calibrate_likert

    cfg = _config(config)
    df, _ = _batch(file, cfg, task_type)
    emit(calibrate_likert(df, cfg, cohort=cohort, cohort_freq=by_period, method=method).to_dict(), format)


@quality_app.command("drift")
def quality_drift(
    file: BatchArg,
    freq: Annotated[Optional[str], typer.Option("--freq", help="Period (pandas alias: D, W, M); default quality.drift_freq.")] = None,
    task_type: TaskTypeOpt = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.json,
) -> None:
    """Drift of each rater's gold accuracy over time (labeled_at)."""
    from .quality import gold_accuracy_drift

    cfg = _config(config)
    df, _ = _batch(file, cfg, task_type)
    emit(gold_accuracy_drift(df, cfg, freq=freq), format)


def _render(name: str, data: Any) -> None:
    from . import reporting

    getattr(reporting, name)(out, data)


# ---------------------------------------------------------------------------- demo


@app.command()
def demo(
    workdir: Annotated[Optional[Path], typer.Option("--workdir", help="Where to build the demo workspace (default: a new temp dir).")] = None,
    format: FormatOpt = Format.text,
) -> None:
    """Run the whole loop on embedded defaults in a throwaway workspace."""
    from .demo import run_demo

    summary = run_demo(workdir, console=err if format is Format.json else out)
    if format is Format.json:
        emit(summary, format)


def main() -> None:
    """Console-script entry point: user errors become a message and exit code 2 (or 1)."""
    try:
        app()
    except AlignmentCIError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
