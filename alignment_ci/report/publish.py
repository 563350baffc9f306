"""Publish a rendered report to a forge: sticky comment, commit status, check run."""

from __future__ import annotations

from typing import Any

from ..forge.base import DEFAULT_CHECK_NAME, DEFAULT_STATUS_CONTEXT, Forge
from .data import ReportData, verdict_of

LOCAL_PR = 0
"""The pseudo pull-request number a report is filed under when no pull request is known (local runs)."""


def publish_report(
    forge: Forge,
    data: ReportData,
    markdown: str,
    *,
    pr: int | None,
    head_sha: str | None,
    details_url: str | None = None,
    kind: str = "report",
    status_context: str = DEFAULT_STATUS_CONTEXT,
    check_name: str = DEFAULT_CHECK_NAME,
) -> dict[str, Any]:
    """Upsert the ``kind`` comment on ``pr`` (``LOCAL_PR`` when None), set the commit status
    on ``head_sha`` from the gate verdict (success / failure / pending when no gate ran) and
    create a check run where the forge can. Without ``head_sha`` no status is set.

    A forge other than the local one gets no comment without a pull request (there is no
    pull request 0 on GitHub); the status and check run are still set.

    Returns ``{pr, comment: {id, url, created, changed} | None, status, check_run}``.
    """
    verdict = verdict_of(data.gates, data.inconclusive_blocks, data.gate_errors)
    number = LOCAL_PR if pr is None else pr
    comment = None
    if pr is not None or getattr(forge, "name", None) == "local":
        comment = forge.upsert_comment(number, kind, markdown).as_dict()
    result: dict[str, Any] = {"pr": number if comment else pr, "comment": comment, "status": None, "check_run": None}
    if head_sha:
        result["status"] = forge.set_status(
            head_sha, verdict.commit_state, f"alignment-ci: {verdict.sentence()}", target_url=details_url, context=status_context
        )
        conclusion = {"success": "success", "failure": "failure"}.get(verdict.commit_state, "neutral")
        title = {"pass": "Gates passed", "fail": "Gates failed"}.get(verdict.state, "Gates not run")
        check = forge.create_check_run(head_sha, conclusion, title, markdown, details_url=details_url, name=check_name)
        result["check_run"] = check.as_dict() if check is not None else None
    return result
