"""`alignment-ci report`: render the PR report (Markdown, step summary, HTML, CSV) and publish it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from ..cli_common import ConfigOpt, Format, FormatOpt, _config, emit, out
from ..report.collect import build_report

app = typer.Typer(help="Render the PR report and publish it to the forge.", invoke_without_command=True)


@app.callback()
def report(
    ctx: typer.Context,
    publish: Annotated[bool, typer.Option("--publish", help="Post the sticky comment, commit status and check run to the forge.")] = False,
    out_dir: Annotated[Optional[Path], typer.Option("--out", "-o", help="Directory for the outputs (default <paths.outputs>/report).")] = None,
    gate_results: Annotated[Optional[Path], typer.Option("--gates-results", help="Gate results JSON (default <paths.outputs>/gates/results.json).")] = None,
    evals: Annotated[Optional[Path], typer.Option("--evals", help="Eval data JSON for the charts (default <paths.outputs>/gates/evals.json).")] = None,
    batch: Annotated[Optional[list[Path]], typer.Option("--batch", help="Label batch to validate and summarise (repeatable).")] = None,
    candidate: Annotated[Optional[str], typer.Option("--candidate", help="Candidate run: run key, prefix, artifact hash or record JSON (default: from the gate results, else the newest run).")] = None,
    baseline: Annotated[Optional[str], typer.Option("--baseline", help="Baseline run, as --candidate (default: from the gate results).")] = None,
    failed_stage: Annotated[Optional[list[str]], typer.Option("--failed-stage", help="A pipeline stage that failed before the gates ran (repeatable): the verdict is fail, the status failure.")] = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Render the report; parts that did not run show as "not run". Exit 0 when rendered (the gate verdict is reported, not enforced)."""
    if ctx.invoked_subcommand is not None:
        return

    result = build_report(
        _config(config), out_dir=out_dir, gate_results=gate_results, evals=evals, batches=batch or [],
        candidate=candidate, baseline=baseline, publish=publish, failed_stages=failed_stage or (),
    )
    emit(result, format, _render)


def _render(result: dict[str, Any]) -> None:
    files = result["files"]
    style = {"pass": "green", "fail": "red"}.get(result["verdict"], "yellow")
    out.print(f"verdict: [{style}]{escape(result['verdict'])}[/{style}] — {escape(result['summary'])}")
    out.print(f"markdown:     {escape(files['markdown'])}")
    out.print(f"step summary: {escape(files['summary'])}" + (f" (appended to {escape(files['step_summary'])})" if files.get("step_summary") else ""))
    out.print(f"html:         {escape(files['html'])}")
    out.print(f"csv:          {escape(', '.join(files['csv'].values()))}")
    published = result.get("published")
    if published:
        comment = published.get("comment")
        where = f"comment on PR {published['pr']}: {comment['url']}" if comment else "no pull request: comment skipped"
        out.print(f"published to the {escape(published['forge'])} forge — {escape(where)}")
        if published.get("status"):
            out.print(f"status {escape(published['status']['context'])}: {escape(published['status']['state'])}")
