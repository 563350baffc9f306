"""`alignment-ci gate`: run the gate suites (gates/) and exit with the verdict."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..cli_common import ConfigOpt, Format, FormatOpt, emit, err, out
from ..evals.scoring import check_model_dir
from ..gating.context import GateOptions
from ..gating.results import summary_lines
from ..gating.runner import report_to_dict, run_gates

app = typer.Typer(help="Run the built-in gates and gates/ on the candidate and exit with the verdict.", invoke_without_command=True)

PathOpt = Optional[Path]


@app.callback()
def gate(
    candidate: Annotated[Optional[str], typer.Option("--candidate", help="Candidate record id, or the run key of any run in it (default: the latest candidate).")] = None,
    baseline: Annotated[Optional[str], typer.Option("--baseline", help="Baseline candidate id or run key (default: the production baseline).")] = None,
    candidate_rm: Annotated[PathOpt, typer.Option("--candidate-rm", help="Candidate reward-model directory.")] = None,
    candidate_policy: Annotated[PathOpt, typer.Option("--candidate-policy", help="Candidate policy directory.")] = None,
    baseline_rm: Annotated[PathOpt, typer.Option("--baseline-rm", help="Baseline reward-model directory.")] = None,
    baseline_policy: Annotated[PathOpt, typer.Option("--baseline-policy", help="Baseline policy directory.")] = None,
    gold: Annotated[PathOpt, typer.Option("--gold", help="Gold set: a label batch or a pairs JSONL (default: gold items of ingested batches).")] = None,
    eval_set: Annotated[PathOpt, typer.Option("--eval", help="Held-out eval set JSONL/YAML (default: the gold pairs).")] = None,
    batches: Annotated[Optional[str], typer.Option("--batches", help="The PR's label batches for the label-quality gate: comma-separated batch ids or manifest paths (default: every ingested batch).")] = None,
    gates_dir: Annotated[PathOpt, typer.Option("--gates", help="Directory of gate files (default: paths.gates).")] = None,
    results_dir: Annotated[PathOpt, typer.Option("--results-dir", help="Where gates.json and gates.junit.xml go.")] = None,
    settings: Annotated[PathOpt, typer.Option("--settings", help="YAML file of gates settings merged over alignment.yaml's gates section.")] = None,
    select: Annotated[Optional[str], typer.Option("-k", "--select", help="Only gates matching this pytest -k expression.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show pytest's output on stderr.")] = False,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Run the built-in gates and the repository's gates/ on the candidate (reward model, reference and policy) against
    the production baseline; write the results (JSON + JUnit) and exit 0 (pass) or 1 (blocked)."""

    for path, flag in ((candidate_rm, "--candidate-rm"), (candidate_policy, "--candidate-policy"),
                       (baseline_rm, "--baseline-rm"), (baseline_policy, "--baseline-policy")):
        if path is not None:
            check_model_dir(path, flag)
    options = GateOptions(
        candidate=candidate, baseline=baseline,
        candidate_rm=_s(candidate_rm), candidate_policy=_s(candidate_policy),
        baseline_rm=_s(baseline_rm), baseline_policy=_s(baseline_policy),
        gold=_s(gold), eval=_s(eval_set), results_dir=_s(results_dir),
        alignment_config=_s(config), gates_settings=_s(settings), batches=batches,
    )
    run = run_gates(options, gates_dir=gates_dir, select=select, stream=sys.stderr if verbose else None)
    if format is Format.json:
        emit(report_to_dict(run), format)
    else:
        for line in summary_lines(run.report):
            out.print(escape(line))
        err.print(f"results: {escape(run.report.paths['json'])}, {escape(run.report.paths['junit'])}")
    raise typer.Exit(run.exit_code)


def _s(path: Optional[Path]) -> Optional[str]:
    return str(path) if path is not None else None
