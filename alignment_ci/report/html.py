"""The standalone HTML report: one file, no scripts, no external assets.

Charts are matplotlib PNGs embedded as ``data:`` URIs; a Content-Security-Policy meta tag
(``default-src 'none'; img-src data:; style-src 'unsafe-inline'``) makes a browser refuse
anything else, so even text that escaped escaping could not load or run anything.
"""

from __future__ import annotations

from .charts import png_charts
from .data import (
    ReportData,
    detail_tables,
    flagged_raters,
    improvements,
    judge_labels,
    losses,
    metric_rows,
    safety_failures,
    verdict_of,
)
from .markdown import normalized, safe_url
from .render import render_html_template

MAX_EXAMPLE_ROWS = 500
MAX_ISSUE_ROWS = 200
MAX_RATER_ROWS = 1000


def render_html(data: ReportData, *, charts: bool = True, max_example_rows: int = MAX_EXAMPLE_ROWS) -> str:
    """The full report as one HTML document: the ``max_example_rows`` eval prompts lost and won most,
    in full (all are in the CSV), every safety failure and every gate's detail tables."""
    d = normalized(data)
    wins = []
    for w in d.win_rates:
        interval = w.get("interval")
        wins.append({"slice": str(w.get("slice", "")), "win_rate": w.get("win_rate"), "n": w.get("n"),
                     "interval": interval if isinstance(interval, (list, tuple)) and len(interval) == 2 else None})
    return render_html_template(
        "report.html.j2",
        d=d,
        v=verdict_of(d.gates, d.inconclusive_blocks, d.gate_errors),
        metrics=metric_rows(d.candidate, d.baseline),
        charts=png_charts(d) if charts else [],
        win_rates=wins,
        raters=flagged_raters(d.health),
        worst=losses(d.examples, limit=max_example_rows),
        best=improvements(d.examples, limit=max_example_rows),
        judges=judge_labels(d.examples),
        n_examples=len(d.examples),
        safety=safety_failures(d.gates),
        gate_tables=[{"gate": g["gate"], "tables": t} for g in d.gates or [] if (t := detail_tables(g.get("details")))],
        max_issue_rows=MAX_ISSUE_ROWS,
        max_rater_rows=MAX_RATER_ROWS,
        run_url=safe_url(d.run_url),
    )
