"""Rendering: jinja2 templates to Markdown and HTML. Renders what it is handed; imports no pipeline stage.

:func:`write_report` writes every output of one report from a :class:`ReportData`:
``report.md`` (the PR comment, within GitHub's 65,536-character limit), ``summary.md``
(the step summary, also appended to ``$GITHUB_STEP_SUMMARY`` when set), ``report.html``
(standalone) and the CSV tables. :func:`publish_report` sends the comment, the commit
status and the check run to a forge.
"""

from __future__ import annotations

from .data import ReportData, Verdict, verdict_of
from .output import ReportFiles, write_report
from .publish import publish_report

__all__ = ["ReportData", "ReportFiles", "Verdict", "publish_report", "verdict_of", "write_report"]
