"""The forge interface: what alignment-ci publishes to a code host, and its records.

One small protocol, two implementations: :class:`~alignment_ci.forge.local.LocalForge`
(files under the workspace, the embedded default) and
:class:`~alignment_ci.forge.github.GitHubForge` (GitHub REST through github3.py).
Argument checks and limits shared by both live here, so the local sink refuses what
GitHub would refuse.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import Any, Protocol, runtime_checkable

from ..errors import AlignmentCIError
from ..ids import ref_name_problem
from ..textsafety import truncate

DEFAULT_STATUS_CONTEXT = "alignment-ci/gates"
DEFAULT_CHECK_NAME = "alignment-ci"
COMMIT_STATES = ("error", "failure", "pending", "success")
CHECK_CONCLUSIONS = ("action_required", "cancelled", "failure", "neutral", "success", "skipped", "timed_out")
DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
COMMENT_MAX_CHARS = 65536
"""GitHub rejects an issue comment body longer than this (422 "Body is too long")."""
STATUS_DESCRIPTION_MAX_CHARS = 140
"""GitHub truncates nothing: a longer commit-status description is a 422."""
CHECK_SUMMARY_MAX_CHARS = 65535
_KIND_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_SHA_RE = re.compile(r"[0-9a-f]{40}")
BRANCH_MAX_LEN = 200
_BRANCH_CHARS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


class ForgeError(AlignmentCIError):
    """The forge refused or failed an operation; the message says what to do."""


class RateLimited(ForgeError):
    """GitHub asked for a wait longer than the configured ``max_wait``."""

    def __init__(self, message: str, wait_s: float) -> None:
        super().__init__(message)
        self.wait_s = wait_s


@dataclass(frozen=True)
class CommentRef:
    """The sticky comment after an upsert. ``created`` is False when an existing one was found."""

    id: int
    url: str
    created: bool
    changed: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PullRequestRef:
    """An open pull request. ``created`` is False when one already existed for the branch."""

    number: int
    url: str
    created: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CheckRunRef:
    id: int
    url: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Forge(Protocol):
    """What alignment-ci publishes. Every method is safe to call again with the same arguments
    (a rerun edits the same comment, finds the same pull request), except
    :meth:`create_deployment`, which records a new deployment each time, as GitHub does."""

    name: str

    def upsert_comment(self, pr: int, kind: str, body: str) -> CommentRef:
        """Create or edit in place the one comment of ``kind`` on pull request ``pr``."""
        ...

    def set_status(
        self,
        sha: str,
        state: str,
        description: str,
        target_url: str | None = None,
        context: str = DEFAULT_STATUS_CONTEXT,
    ) -> dict[str, Any]:
        """Set the commit status ``context`` on ``sha`` (error, failure, pending, success)."""
        ...

    def create_check_run(
        self,
        sha: str,
        conclusion: str,
        title: str,
        summary: str,
        text: str | None = None,
        details_url: str | None = None,
        name: str = DEFAULT_CHECK_NAME,
    ) -> CheckRunRef | None:
        """A completed check run with the report summary; ``None`` when the forge cannot create one."""
        ...

    def open_pull_request(
        self, branch: str, base: str, title: str, body: str, files: dict[str, bytes]
    ) -> PullRequestRef:
        """Put ``files`` on ``branch`` (created from ``base``) and open a pull request, or find the open one."""
        ...

    def create_deployment(self, ref: str, environment: str, payload: dict[str, Any]) -> int:
        """Record a deployment of ``ref`` to ``environment``; returns its id."""
        ...

    def set_deployment_status(
        self, deployment_id: int, state: str, description: str, target_url: str | None = None
    ) -> dict[str, Any]:
        """Add a status to a deployment."""
        ...


def comment_marker(kind: str) -> str:
    """The hidden first line that identifies the sticky comment of ``kind``."""
    return f"<!-- alignment-ci:report:{check_kind(kind)} -->"


def sticky_body(kind: str, body: str) -> str:
    """``body`` behind its marker, cut to GitHub's comment limit with a note when too long."""
    marker = comment_marker(kind)
    text = body[len(marker) :].lstrip("\n") if body.startswith(marker) else body
    full = f"{marker}\n{text}"
    if len(full) > COMMENT_MAX_CHARS:
        note = "\n\n… (truncated: the full report is in the workflow's artifacts)"
        full = full[: COMMENT_MAX_CHARS - len(note)] + note
    return full


def has_marker(body: str | None, kind: str) -> bool:
    return bool(body) and body.lstrip().startswith(comment_marker(kind))  # type: ignore[union-attr]


def check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
        raise ForgeError(
            f"invalid report kind {kind!r}: use 1-64 characters from a-z 0-9 . _ -, starting with a letter or digit"
        )
    return kind


def check_pr(pr: int) -> int:
    if isinstance(pr, bool) or not isinstance(pr, int) or pr < 0:
        raise ForgeError(f"invalid pull request number {pr!r}: expected a non-negative integer")
    return pr


def check_sha(sha: str) -> str:
    if not isinstance(sha, str) or not _SHA_RE.fullmatch(sha):
        raise ForgeError(f"invalid commit sha {sha!r}: expected 40 lowercase hex digits")
    return sha


def check_choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ForgeError(f"invalid {what} {value!r}: use one of {', '.join(allowed)}")
    return value


def check_branch(branch: str) -> str:
    """``branch`` if git accepts it (``git check-ref-format --branch``, :mod:`alignment_ci.ids`) and it is
    at most 200 characters of letters, digits, ``. _ - /``; else :class:`ForgeError`."""
    problem = ref_name_problem(branch)
    if problem is None and not _BRANCH_CHARS.fullmatch(branch):
        problem = "use letters, digits, . _ - and /"
    if problem is None and len(branch) > BRANCH_MAX_LEN:
        problem = f"longer than {BRANCH_MAX_LEN} characters"
    if problem is not None:
        raise ForgeError(f"invalid branch name {truncate(str(branch), 120)!r}: {problem}")
    return branch


def check_repo_path(path: str) -> str:
    """A file path inside the repository: relative, POSIX, no ``..`` or empty segments."""
    parts = PurePosixPath(path).parts if isinstance(path, str) else ()
    if (
        not parts
        or path.startswith("/")
        or "\\" in path
        or any(p in ("..", ".", "") for p in path.split("/"))
        or parts[0] == ".git"
    ):
        raise ForgeError(f"invalid file path {path!r}: use a relative path like 'dir/file.jsonl' without '..'")
    return path


def short_description(description: str) -> str:
    """A commit-status description within GitHub's 140-character limit, on one line."""
    one_line = " ".join(description.split())
    if len(one_line) <= STATUS_DESCRIPTION_MAX_CHARS:
        return one_line
    return one_line[: STATUS_DESCRIPTION_MAX_CHARS - 1] + "…"
