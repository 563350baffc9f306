"""Human-readable console output for the CLI (rich). The library never prints; this does.

Vendor text can reach these messages (values quoted in validation errors): everything
from a batch is printed with markup disabled, so it cannot restyle or hide output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def render_issues(console: Console, file: Path, report: Any, limit: int = 50) -> None:
    """Print validation errors and warnings as compiler-style `file:line:col: kind: message`."""
    for label, style, issues in (("error", "red", report.errors), ("warning", "yellow", report.warnings)):
        for issue in issues[:limit]:
            where = f"{file}:{issue.line}" if issue.line else str(file)
            if getattr(issue, "col", None):
                where += f":{issue.col}"
            column = " " + escape(f"[{issue.column}]") if issue.column else ""
            console.print(
                f"{escape(where)}: [{style}]{label}[/{style}] {issue.kind}{column}: {escape(issue.message)}"
            )
        if len(issues) > limit:
            console.print(f"… and {len(issues) - limit} more {label}s (use --format json for all)")
    verdict = "[green]accepted[/green]" if report.accepted else "[red]rejected[/red]"
    console.print(
        f"{escape(str(file))}: {verdict} — {report.rows} rows, "
        f"{report.error_count} error(s), {report.warning_count} warning(s)"
    )


def render_ingest(console: Console, file: Path, result: Any) -> None:
    if not result.accepted:
        render_issues(console, file, result.report)
        console.print("nothing was written")
        return
    if result.already_ingested:
        console.print(f"[yellow]no-op[/yellow]: batch {escape(result.batch_id)} was already ingested with identical content")
    table = Table(title=f"batch {escape(result.batch_id)}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    m = result.manifest
    for key in ("vendor", "task_type", "rows", "items", "raters", "sha256", "store_uri"):
        table.add_row(key, escape(str(m.get(key))))
    table.add_row("manifest", escape(str(result.manifest_path)))
    table.add_row("warnings", escape(", ".join(f"{k}: {v}" for k, v in m.get("warnings", {}).items()) or "none"))
    console.print(table)


def render_lineage(console: Console, data: dict) -> None:
    """One line per entry, newest first: seq, kind, subject and what it came from."""
    for entry in data["entries"]:
        inputs = ", ".join(i[:12] for i in entry.get("inputs", [])) or "-"
        extra = {k: v for k, v in (entry.get("data") or {}).items() if k in ("batch_id", "vendor", "stage", "run_key", "raters")}
        console.print(
            f"#{entry['seq']} [bold]{escape(entry['kind'])}[/bold] {escape(str(entry['subject'])[:16])} ← {escape(inputs)} {escape(str(extra))}"
        )


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_agreement(console: Console, data: dict) -> None:
    table = Table(title=f"agreement — verdict: {data.get('verdict')}")
    for col in ("dimension", "level", "items", "raters", "alpha", "95% CI", "Fleiss κ", "Cohen κ", "% agree", "verdict"):
        table.add_column(col)
    for name, d in data["dimensions"].items():
        ci = d.get("alpha_ci")
        table.add_row(
            escape(name), d["level"], str(d["n_items"]), str(d["n_raters"]), _fmt(d["krippendorff_alpha"]),
            f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else "–", _fmt(d["fleiss_kappa"]), _fmt(d["cohen_kappa"]),
            _fmt(d["percent_agreement"]), escape(str(d.get("verdict"))),
        )
    console.print(table)


def render_raters(console: Console, data: dict) -> None:
    table = Table(title="raters")
    for col in ("rater", "n", "gold acc.", "consensus", "reliability", "status", "reasons"):
        table.add_column(col)
    for rid, r in data["raters"].items():
        style = "red" if r.get("flagged") else ""
        table.add_row(
            escape(rid), str(r["n"]), _fmt(r.get("gold_accuracy"), 2), _fmt(r.get("agreement_with_consensus"), 2),
            _fmt(r.get("reliability"), 2), f"[{style}]{escape(str(r.get('status')))}[/{style}]" if style else escape(str(r.get("status"))),
            escape("; ".join(r.get("reasons", []))),
        )
    console.print(table)


def render_aggregate(console: Console, data: dict) -> None:
    if "scores" in data:
        table = Table(title=f"Bradley–Terry strengths ({escape(str(data.get('dimension')))})")
        table.add_column("entity")
        table.add_column("log-strength", justify="right")
        for entity, score in data["scores"].items():
            table.add_row(escape(entity), f"{score:+.3f}")
        console.print(table)
        if data.get("position_bias") is not None:
            console.print(f"position bias (first shown): {data['position_bias']:+.3f}")
        return
    items = data.get("items", {})
    choices: dict[str, int] = {}
    for item in items.values():
        key = str(item.get("choice"))
        choices[key] = choices.get(key, 0) + 1
    console.print(f"{escape(data['method'])}: {len(items)} item(s); choices: {escape(str(choices))} (--format json for every item)")


def render_health(console: Console, h: dict) -> None:
    colour = {"pass": "green", "warn": "yellow", "fail": "red"}[h["verdict"]]
    console.print(
        f"label health: [{colour}]{h['verdict']}[/{colour}] — {h['rows']} rows, {h['items']} items, "
        f"{h['raters']} raters, gold items {h['gold']['items']}, skip rate {_fmt(h['skip_rate'], 3)}, "
        f"position bias {_fmt(h['position_bias'], 3)}"
    )
    render_agreement(console, h["agreement"])
    if h["flagged_raters"]:
        for rid, r in h["flagged_raters"].items():
            console.print(f"[red]flagged[/red] {escape(rid)}: {escape('; '.join(r['reasons']))}")
    else:
        console.print("no rater flagged")
    for bucket, s in h["sampling"].items():
        budget = "–" if s["budget"] is None else f"{100 * s['budget']:.0f}%"
        console.print(f"bucket {escape(bucket)}: {100 * s['share']:.1f}% of rows (budget {budget})")
