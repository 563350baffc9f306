"""What a GitHub Actions run tells a step about itself: repository, pull request, commit.

GitHub documents the variables (``GITHUB_REPOSITORY``, ``GITHUB_EVENT_PATH``,
``GITHUB_SHA``, ``GITHUB_SERVER_URL``, ``GITHUB_RUN_ID``) at
https://docs.github.com/en/actions/reference/variables-reference and the event
payloads at https://docs.github.com/en/webhooks/webhook-events-and-payloads.

On a ``pull_request`` event ``GITHUB_SHA`` is the temporary merge commit; a status must
go on the pull request's head commit (``pull_request.head.sha``), which is what branch
protection checks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .base import ForgeError


@dataclass(frozen=True)
class ActionsContext:
    repository: str | None
    event_name: str | None
    pr_number: int | None
    head_sha: str | None
    run_url: str | None


def actions_context(environ: Mapping[str, str] | None = None) -> ActionsContext:
    """Read the Actions environment (``os.environ`` by default); fields absent outside Actions are None."""
    env = os.environ if environ is None else environ
    event: dict = {}
    event_path = env.get("GITHUB_EVENT_PATH")
    if event_path:
        try:
            event = json.loads(Path(event_path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ForgeError(f"GITHUB_EVENT_PATH={event_path}: file not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ForgeError(f"GITHUB_EVENT_PATH={event_path}: not a JSON event payload ({exc})") from None
    pull = event.get("pull_request") or {}
    pr_number = pull.get("number")
    if pr_number is None:
        issue = event.get("issue") or {}
        if issue.get("pull_request") is not None:  # issue_comment on a pull request
            pr_number = issue.get("number")
    head_sha = (pull.get("head") or {}).get("sha") or env.get("GITHUB_SHA") or None
    repository = env.get("GITHUB_REPOSITORY") or None
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    run_id = env.get("GITHUB_RUN_ID")
    run_url = f"{server}/{repository}/actions/runs/{run_id}" if repository and run_id else None
    return ActionsContext(
        repository=repository,
        event_name=env.get("GITHUB_EVENT_NAME") or None,
        pr_number=int(pr_number) if pr_number is not None else None,
        head_sha=head_sha,
        run_url=run_url,
    )
