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
            column = f" [{escape(issue.column)}]" if issue.column else ""
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
