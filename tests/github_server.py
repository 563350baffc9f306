"""A real HTTP server on 127.0.0.1 standing in for GitHub's REST API in tests.

It answers the endpoints alignment-ci's GitHub forge uses, with the response shapes
GitHub documents (https://docs.github.com/en/rest: repositories, issues and issue
comments, commit statuses, git refs, contents, pulls, deployments, check runs, users,
apps), complete enough for github3.py's models (which reject partial payloads). State
lives in memory: a small git model (blobs, commits, refs), issues and pull requests,
comments, statuses, deployments, check runs.

What makes it useful for tests:

* ``server.requests``: every request, with method, path, query, body and the status
  answered;
* ``server.fail_next(status, headers=..., times=n, path_prefix=..., method=...)``: the
  next matching requests get that error instead (403 secondary rate limit, 502,
  404, ...); ``secondary_rate_limit_next`` and ``primary_rate_limit_next`` build
  GitHub's own rate-limit answers;
* authentication as GitHub does it: ``token``/``Bearer`` tokens, a GitHub App whose
  RS256 JWT is verified with its public key and exchanged for installation tokens,
  and the 403 an installation token gets on ``GET /user``;
* pagination with ``per_page``/``page`` and ``Link: <...>; rel="next"`` headers.

Use the ``github_server`` fixture (``from tests.github_server import github_server``),
or ``with GitHubAPIServer() as server:`` outside pytest.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import pytest

DOCS = "https://docs.github.com/rest"
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID."
)
_DEFAULT_MESSAGES = {
    400: "Problems parsing JSON",
    401: "Bad credentials",
    403: SECONDARY_LIMIT_MESSAGE,
    404: "Not Found",
    422: "Validation Failed",
    429: SECONDARY_LIMIT_MESSAGE,
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
    504: "We couldn't respond to your request in time. Sorry about that. Please try resubmitting your request.",
}


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_blob_sha(data: bytes) -> str:
    """The sha git gives a blob: sha1 of ``b"blob <size>\\0" + data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HTTPError(Exception):
    def __init__(self, status: int, message: str | None = None, errors: list[dict] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message or _DEFAULT_MESSAGES.get(status, "Error")
        self.errors = errors
        self.headers = headers or {}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int = 0
    at: float = 0.0


@dataclass
class _Failure:
    status: int
    headers: dict[str, str]
    times: int
    path_prefix: str | None
    method: str | None
    message: str
    after_processing: bool = False


@dataclass
class _Token:
    login: str
    kind: str  # "user" (a PAT), "actions" (GITHUB_TOKEN), "app-installation"
    expires_at: datetime | None = None


@dataclass
class _App:
    app_id: int
    slug: str
    public_key_pem: bytes
    installation_id: int


@dataclass
class _Commit:
    sha: str
    tree: dict[str, str]  # path -> blob sha
    parents: list[str]
    message: str
    date: datetime


@dataclass
class _Issue:
    number: int
    title: str
    body: str
    user: str
    created_at: datetime
    updated_at: datetime
    is_pull: bool = False
    state: str = "open"
    head: str = ""  # pull requests: head branch
    base: str = ""


@dataclass
class _Comment:
    id: int
    issue: int
    body: str
    user: str
    created_at: datetime
    updated_at: datetime


class GitHubAPIServer:
    """GitHub's REST API for one repository, served from memory on 127.0.0.1."""

    def __init__(
        self,
        owner: str = "octo-org",
        repo: str = "alignment-repo",
        token: str = "ghp_test_token",
        login: str = "alignment-bot",
        default_branch: str = "main",
    ) -> None:
        self.owner, self.repo = owner, repo
        self.full_name = f"{owner}/{repo}"
        self.default_branch = default_branch
        self.token = token
        self.login = login
        self.requests: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._failures: list[_Failure] = []
        self._tokens: dict[str, _Token] = {token: _Token(login, "user")}
        self._user_ids: dict[str, int] = {}
        self._apps: list[_App] = []
        self._blobs: dict[str, bytes] = {}
        self._commits: dict[str, _Commit] = {}
        self._refs: dict[str, str] = {}
        self._issues: dict[int, _Issue] = {}
        self._comments: dict[int, _Comment] = {}
        self._statuses: list[dict[str, Any]] = []
        self._deployments: dict[int, dict[str, Any]] = {}
        self._deployment_statuses: dict[int, list[dict[str, Any]]] = {}
        self._check_runs: dict[int, dict[str, Any]] = {}
        self._ids = iter(range(1_000_001, 10**9))
        self._rate_remaining = 5000
        self.created_at = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        self.repo_id = 700_001
        root = self._commit({"README.md": b"# alignment repo\n"}, [], "Initial commit")
        self._refs[f"refs/heads/{default_branch}"] = root
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ----------------------------------------------------------- lifecycle
    def start(self) -> "GitHubAPIServer":
        handler = type("Handler", (_Handler,), {"api": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="github-api-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "GitHubAPIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def html_root(self) -> str:
        return f"{self.url}/html"

    @property
    def repo_api(self) -> str:
        return f"{self.url}/repos/{self.full_name}"

    # ----------------------------------------------------------- test controls
    def fail_next(
        self,
        status: int,
        headers: dict[str, str] | None = None,
        times: int = 1,
        path_prefix: str | None = None,
        method: str | None = None,
        message: str | None = None,
        after_processing: bool = False,
    ) -> None:
        """Answer the next ``times`` requests matching ``method``/``path_prefix`` with ``status``.

        With ``after_processing`` the request takes effect first and only its response is
        lost (a 502 from a proxy after GitHub wrote the comment), so retries must re-read.
        """
        with self._lock:
            self._failures.append(
                _Failure(status, dict(headers or {}), times, path_prefix, method and method.upper(),
                         message or _DEFAULT_MESSAGES.get(status, "Error"), after_processing)
            )

    def secondary_rate_limit_next(self, retry_after: int | None = 60, times: int = 1,
                                  path_prefix: str | None = None, method: str | None = None) -> None:
        """GitHub's secondary rate limit: 403, ``Retry-After`` (when given), remaining quota left."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self.fail_next(403, headers, times, path_prefix, method, SECONDARY_LIMIT_MESSAGE)

    def primary_rate_limit_next(self, reset_at: float, times: int = 1, path_prefix: str | None = None,
                                method: str | None = None) -> None:
        """GitHub's primary rate limit: 403, ``X-RateLimit-Remaining: 0``, reset at epoch ``reset_at``."""
        headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(reset_at)), "X-RateLimit-Used": "5000"}
        self.fail_next(403, headers, times, path_prefix, method, "API rate limit exceeded for user ID 1.")

    def add_token(self, token: str, login: str, kind: str = "user") -> None:
        """Accept ``token`` as ``login``; kind ``actions`` behaves like a workflow's GITHUB_TOKEN."""
        with self._lock:
            self._tokens[token] = _Token(login, kind)

    def register_app(self, app_id: int, public_key_pem: bytes, slug: str = "alignment-ci-app",
                     installation_id: int = 4242) -> None:
        """A GitHub App installed on the repository; its JWTs are verified with ``public_key_pem``."""
        with self._lock:
            self._apps.append(_App(app_id, slug, public_key_pem, installation_id))

    def add_pull_request(self, branch: str = "feature", files: dict[str, bytes] | None = None,
                         title: str = "A change", body: str = "", user: str = "contributor",
                         base: str | None = None) -> tuple[int, str]:
        """A branch with one commit and an open pull request from it; returns (number, head sha)."""
        base = base or self.default_branch
        with self._lock:
            base_sha = self._refs[f"refs/heads/{base}"]
            tree = dict(self._commits[base_sha].tree)
            head = self._commit(files or {f"{branch}.txt": b"change\n"}, [base_sha], f"Work on {branch}", tree)
            self._refs[f"refs/heads/{branch}"] = head
            number = self._new_issue(title, body, user, is_pull=True, head=branch, base=base)
            return number, head

    def add_comment(self, pr: int, body: str, user: str) -> int:
        """A comment by someone else (to fill pages, or to plant a marker)."""
        with self._lock:
            return self._new_comment(pr, body, user)

    # ----------------------------------------------------------- inspection
    def calls(self, method: str | None = None, path_prefix: str = "") -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests
                    if (method is None or r.method == method.upper()) and r.path.startswith(path_prefix)]

    def comments_on(self, pr: int) -> list[dict[str, Any]]:
        with self._lock:
            return [self._comment_json(c) for c in sorted(self._comments.values(), key=lambda c: c.id) if c.issue == pr]

    def statuses_for(self, sha: str) -> list[dict[str, Any]]:
        """Statuses on ``sha``, newest first (as GitHub lists them)."""
        with self._lock:
            return [dict(s) for s in reversed(self._statuses) if s["_sha"] == sha]

    def pulls(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._pull_json(i) for i in sorted(self._issues.values(), key=lambda i: i.number) if i.is_pull]

    def file_on(self, branch: str, path: str) -> bytes | None:
        with self._lock:
            sha = self._refs.get(f"refs/heads/{branch}")
            blob = self._commits[sha].tree.get(path) if sha else None
            return self._blobs[blob] if blob else None

    def branch_sha(self, branch: str) -> str | None:
        with self._lock:
            return self._refs.get(f"refs/heads/{branch}")

    def deployments(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._deployment_json(d) | {"statuses": [self._deployment_status_json(d, s) for s in
                    self._deployment_statuses[d["id"]]]} for d in self._deployments.values()]

    def check_runs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._check_run_json(r) for r in self._check_runs.values()]

    # ----------------------------------------------------------- state helpers
    def _next_id(self) -> int:
        return next(self._ids)

    def _user_id(self, login: str) -> int:
        return self._user_ids.setdefault(login, 100 + len(self._user_ids))

    def _commit(self, files: dict[str, bytes], parents: list[str], message: str,
                tree: dict[str, str] | None = None) -> str:
        tree = dict(tree or {})
        for path, data in files.items():
            blob = git_blob_sha(data)
            self._blobs[blob] = data
            tree[path] = blob
        payload = json.dumps({"tree": sorted(tree.items()), "parents": parents, "message": message,
                              "n": len(self._commits)}).encode()
        sha = hashlib.sha1(payload).hexdigest()
        self._commits[sha] = _Commit(sha, tree, parents, message, datetime.now(timezone.utc))
        return sha

    def _new_issue(self, title: str, body: str, user: str, **kw: Any) -> int:
        number = max(self._issues, default=0) + 1
        now = datetime.now(timezone.utc)
        self._issues[number] = _Issue(number, title, body, user, now, now, **kw)
        return number

    def _new_comment(self, issue: int, body: str, user: str) -> int:
        cid = self._next_id()
        now = datetime.now(timezone.utc)
        self._comments[cid] = _Comment(cid, issue, body, user, now, now)
        self._issues[issue].updated_at = now
        return cid

    def _resolve(self, ref: str) -> str | None:
        if ref in self._commits:
            return ref
        for candidate in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}"):
            if candidate in self._refs:
                return self._refs[candidate]
        return None

    # ----------------------------------------------------------- payloads (GitHub's documented shapes)
    def _user_json(self, login: str, full: bool = False) -> dict[str, Any]:
        u = f"{self.url}/users/{quote(login)}"
        data: dict[str, Any] = {
            "login": login,
            "id": self._user_id(login),
            "node_id": f"MDQ6VXNlcj{self._user_id(login)}",
            "avatar_url": f"{self.url}/avatars/u/{self._user_id(login)}?v=4",
            "gravatar_id": "",
            "url": u,
            "html_url": f"{self.html_root}/{quote(login)}",
            "followers_url": f"{u}/followers",
            "following_url": f"{u}/following{{/other_user}}",
            "gists_url": f"{u}/gists{{/gist_id}}",
            "starred_url": f"{u}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{u}/subscriptions",
            "organizations_url": f"{u}/orgs",
            "repos_url": f"{u}/repos",
            "events_url": f"{u}/events{{/privacy}}",
            "received_events_url": f"{u}/received_events",
            "type": "Bot" if login.endswith("[bot]") else "User",
            "site_admin": False,
        }
        if full:
            data.update({
                "name": login, "company": None, "blog": "", "location": None, "email": None,
                "hireable": None, "bio": None, "twitter_username": None, "public_repos": 1,
                "public_gists": 0, "followers": 0, "following": 0, "created_at": iso(self.created_at),
                "updated_at": iso(self.created_at), "private_gists": 0, "total_private_repos": 0,
                "owned_private_repos": 0, "disk_usage": 0, "collaborators": 0,
                "two_factor_authentication": True,
                "plan": {"name": "free", "space": 976562499, "private_repos": 10000, "collaborators": 0},
            })
        return data

    def _repo_json(self) -> dict[str, Any]:
        r = self.repo_api
        return {
            "id": self.repo_id, "node_id": "MDEwOlJlcG9zaXRvcnk3MDAwMDE=", "name": self.repo,
            "full_name": self.full_name, "owner": self._user_json(self.owner), "private": True,
            "html_url": f"{self.html_root}/{self.full_name}", "description": "An alignment repository",
            "fork": False, "url": r,
            "archive_url": f"{r}/{{archive_format}}{{/ref}}", "assignees_url": f"{r}/assignees{{/user}}",
            "blobs_url": f"{r}/git/blobs{{/sha}}", "branches_url": f"{r}/branches{{/branch}}",
            "collaborators_url": f"{r}/collaborators{{/collaborator}}", "comments_url": f"{r}/comments{{/number}}",
            "commits_url": f"{r}/commits{{/sha}}", "compare_url": f"{r}/compare/{{base}}...{{head}}",
            "contents_url": f"{r}/contents/{{+path}}", "contributors_url": f"{r}/contributors",
            "deployments_url": f"{r}/deployments", "downloads_url": f"{r}/downloads", "events_url": f"{r}/events",
            "forks_url": f"{r}/forks", "git_commits_url": f"{r}/git/commits{{/sha}}",
            "git_refs_url": f"{r}/git/refs{{/sha}}", "git_tags_url": f"{r}/git/tags{{/sha}}",
            "git_url": f"git://{self.full_name}.git", "hooks_url": f"{r}/hooks",
            "issue_comment_url": f"{r}/issues/comments{{/number}}", "issue_events_url": f"{r}/issues/events{{/number}}",
            "issues_url": f"{r}/issues{{/number}}", "keys_url": f"{r}/keys{{/key_id}}",
            "labels_url": f"{r}/labels{{/name}}", "languages_url": f"{r}/languages", "merges_url": f"{r}/merges",
            "milestones_url": f"{r}/milestones{{/number}}",
            "notifications_url": f"{r}/notifications{{?since,all,participating}}",
            "pulls_url": f"{r}/pulls{{/number}}", "releases_url": f"{r}/releases{{/id}}",
            "ssh_url": f"git@localhost:{self.full_name}.git", "stargazers_url": f"{r}/stargazers",
            "statuses_url": f"{r}/statuses/{{sha}}", "subscribers_url": f"{r}/subscribers",
            "subscription_url": f"{r}/subscription", "tags_url": f"{r}/tags", "teams_url": f"{r}/teams",
            "trees_url": f"{r}/git/trees{{/sha}}", "clone_url": f"{self.html_root}/{self.full_name}.git",
            "mirror_url": None, "svn_url": f"{self.html_root}/{self.full_name}", "homepage": None,
            "language": "Python", "forks_count": 0, "forks": 0, "stargazers_count": 0, "watchers_count": 0,
            "watchers": 0, "size": 108, "default_branch": self.default_branch,
            "open_issues_count": sum(1 for i in self._issues.values() if i.state == "open"),
            "open_issues": sum(1 for i in self._issues.values() if i.state == "open"),
            "is_template": False, "topics": [], "has_issues": True, "has_projects": True, "has_wiki": False,
            "has_pages": False, "has_downloads": True, "has_discussions": False, "archived": False,
            "disabled": False, "visibility": "private", "pushed_at": iso(self.created_at),
            "created_at": iso(self.created_at), "updated_at": iso(self.created_at),
            "permissions": {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True},
            "allow_rebase_merge": True, "allow_squash_merge": True, "allow_merge_commit": True,
            "allow_auto_merge": False, "delete_branch_on_merge": True, "license": None,
            "network_count": 0, "subscribers_count": 1, "temp_clone_token": "",
        }

    def _issue_json(self, issue: _Issue) -> dict[str, Any]:
        u = f"{self.repo_api}/issues/{issue.number}"
        data = {
            "id": 900_000 + issue.number, "node_id": f"I_kwDO{issue.number}", "url": u,
            "repository_url": self.repo_api, "labels_url": f"{u}/labels{{/name}}",
            "comments_url": f"{u}/comments", "events_url": f"{u}/events",
            "html_url": f"{self.html_root}/{self.full_name}/{'pull' if issue.is_pull else 'issues'}/{issue.number}",
            "number": issue.number, "state": issue.state, "state_reason": None, "title": issue.title,
            "body": issue.body, "body_text": issue.body, "body_html": f"<p>{html.escape(issue.body)}</p>",
            "user": self._user_json(issue.user), "labels": [], "assignee": None, "assignees": [],
            "milestone": None, "locked": False, "active_lock_reason": None,
            "comments": sum(1 for c in self._comments.values() if c.issue == issue.number),
            "closed_at": None, "created_at": iso(issue.created_at), "updated_at": iso(issue.updated_at),
            "closed_by": None, "author_association": "CONTRIBUTOR", "timeline_url": f"{u}/timeline",
            "performed_via_github_app": None,
            "reactions": {"url": f"{u}/reactions", "total_count": 0, "+1": 0, "-1": 0, "laugh": 0,
                          "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
        }
        if issue.is_pull:
            p = f"{self.html_root}/{self.full_name}/pull/{issue.number}"
            data["pull_request"] = {"url": f"{self.repo_api}/pulls/{issue.number}", "html_url": p,
                                    "diff_url": f"{p}.diff", "patch_url": f"{p}.patch", "merged_at": None}
        return data

    def _comment_json(self, c: _Comment) -> dict[str, Any]:
        return {
            "id": c.id, "node_id": f"IC_kwDO{c.id}", "url": f"{self.repo_api}/issues/comments/{c.id}",
            "html_url": f"{self.html_root}/{self.full_name}/pull/{c.issue}#issuecomment-{c.id}",
            "body": c.body, "body_text": c.body, "body_html": f"<p>{html.escape(c.body)}</p>",
            "user": self._user_json(c.user), "created_at": iso(c.created_at), "updated_at": iso(c.updated_at),
            "issue_url": f"{self.repo_api}/issues/{c.issue}", "author_association": "MEMBER",
            "performed_via_github_app": None,
            "reactions": {"url": f"{self.repo_api}/issues/comments/{c.id}/reactions", "total_count": 0,
                          "+1": 0, "-1": 0, "laugh": 0, "hooray": 0, "confused": 0, "heart": 0,
                          "rocket": 0, "eyes": 0},
        }

    def _branch_end(self, branch: str) -> dict[str, Any]:
        return {"label": f"{self.owner}:{branch}", "ref": branch, "sha": self._refs.get(f"refs/heads/{branch}", ""),
                "user": self._user_json(self.owner), "repo": self._repo_json()}

    def _pull_json(self, issue: _Issue, full: bool = True) -> dict[str, Any]:
        n = issue.number
        u = f"{self.repo_api}/pulls/{n}"
        h = f"{self.html_root}/{self.full_name}/pull/{n}"
        data = {
            "url": u, "id": 800_000 + n, "node_id": f"PR_kwDO{n}", "html_url": h, "diff_url": f"{h}.diff",
            "patch_url": f"{h}.patch", "issue_url": f"{self.repo_api}/issues/{n}", "commits_url": f"{u}/commits",
            "review_comments_url": f"{u}/comments", "review_comment_url": f"{self.repo_api}/pulls/comments{{/number}}",
            "comments_url": f"{self.repo_api}/issues/{n}/comments",
            "statuses_url": f"{self.repo_api}/statuses/{self._refs.get(f'refs/heads/{issue.head}', '')}",
            "number": n, "state": issue.state, "locked": False, "title": issue.title,
            "user": self._user_json(issue.user), "body": issue.body, "body_text": issue.body,
            "body_html": f"<p>{html.escape(issue.body)}</p>", "labels": [], "milestone": None,
            "active_lock_reason": None, "created_at": iso(issue.created_at), "updated_at": iso(issue.updated_at),
            "closed_at": None, "merged_at": None, "merge_commit_sha": None, "assignee": None, "assignees": [],
            "requested_reviewers": [], "requested_teams": [], "head": self._branch_end(issue.head),
            "base": self._branch_end(issue.base),
            "_links": {"self": {"href": u}, "html": {"href": h}, "issue": {"href": f"{self.repo_api}/issues/{n}"},
                       "comments": {"href": f"{self.repo_api}/issues/{n}/comments"},
                       "review_comments": {"href": f"{u}/comments"},
                       "review_comment": {"href": f"{self.repo_api}/pulls/comments{{/number}}"},
                       "commits": {"href": f"{u}/commits"}, "statuses": {"href": f"{self.repo_api}/statuses/x"}},
            "author_association": "CONTRIBUTOR", "auto_merge": None, "draft": False,
        }
        if full:
            data.update({"merged": False, "mergeable": True, "rebaseable": True, "mergeable_state": "clean",
                         "merged_by": None, "comments": 0, "review_comments": 0, "maintainer_can_modify": False,
                         "commits": 1, "additions": 1, "deletions": 0, "changed_files": 1})
        return data

    def _ref_json(self, ref: str) -> dict[str, Any]:
        sha = self._refs[ref]
        return {"ref": ref, "node_id": f"REF_{ref}", "url": f"{self.repo_api}/git/{ref}",
                "object": {"type": "commit", "sha": sha, "url": f"{self.repo_api}/git/commits/{sha}"}}

    def _git_commit_json(self, sha: str) -> dict[str, Any]:
        c = self._commits[sha]
        person = {"name": self.login, "email": f"{self.login}@users.noreply.localhost", "date": iso(c.date)}
        tree_sha = hashlib.sha1(json.dumps(sorted(c.tree.items())).encode()).hexdigest()
        return {
            "sha": sha, "node_id": f"C_{sha[:10]}", "url": f"{self.repo_api}/git/commits/{sha}",
            "html_url": f"{self.html_root}/{self.full_name}/commit/{sha}", "author": person, "committer": person,
            "message": c.message, "tree": {"url": f"{self.repo_api}/git/trees/{tree_sha}", "sha": tree_sha},
            "parents": [{"url": f"{self.repo_api}/git/commits/{p}",
                         "html_url": f"{self.html_root}/{self.full_name}/commit/{p}", "sha": p} for p in c.parents],
            "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None},
        }

    def _contents_json(self, path: str, blob: str, ref: str, with_content: bool = True) -> dict[str, Any]:
        data = self._blobs[blob]
        u = f"{self.repo_api}/contents/{quote(path)}?ref={quote(ref)}"
        git_url = f"{self.repo_api}/git/blobs/{blob}"
        html_url = f"{self.html_root}/{self.full_name}/blob/{ref}/{path}"
        out = {
            "type": "file", "size": len(data), "name": path.rsplit("/", 1)[-1], "path": path, "sha": blob,
            "url": u, "git_url": git_url, "html_url": html_url,
            "download_url": f"{self.url}/raw/{self.full_name}/{ref}/{path}",
            "_links": {"self": u, "git": git_url, "html": html_url},
        }
        if with_content:
            b64 = base64.b64encode(data).decode()
            out["encoding"] = "base64"
            out["content"] = "\n".join(b64[i:i + 60] for i in range(0, len(b64), 60)) + "\n"
        return out

    def _status_json(self, s: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in s.items() if not k.startswith("_")}

    def _deployment_json(self, d: dict[str, Any]) -> dict[str, Any]:
        return dict(d)

    def _deployment_status_json(self, d: dict[str, Any], s: dict[str, Any]) -> dict[str, Any]:
        return dict(s)

    def _check_run_json(self, r: dict[str, Any]) -> dict[str, Any]:
        return dict(r)

    def _app_json(self, app: _App) -> dict[str, Any]:
        return {
            "id": app.app_id, "slug": app.slug, "node_id": f"A_{app.app_id}", "owner": self._user_json(self.owner),
            "name": app.slug, "description": "alignment-ci reports", "external_url": f"{self.html_root}/{app.slug}",
            "html_url": f"{self.html_root}/apps/{app.slug}", "created_at": iso(self.created_at),
            "updated_at": iso(self.created_at),
            "permissions": {"checks": "write", "statuses": "write", "pull_requests": "write", "contents": "write"},
            "events": ["check_run", "pull_request"], "installations_count": 1,
        }

    def _installation_json(self, app: _App) -> dict[str, Any]:
        return {
            "id": app.installation_id, "account": self._user_json(self.owner),
            "access_tokens_url": f"{self.url}/app/installations/{app.installation_id}/access_tokens",
            "repositories_url": f"{self.url}/installation/repositories",
            "html_url": f"{self.html_root}/organizations/{self.owner}/settings/installations/{app.installation_id}",
            "app_id": app.app_id, "app_slug": app.slug, "target_id": self._user_id(self.owner),
            "target_type": "Organization", "permissions": self._app_json(app)["permissions"],
            "events": ["check_run", "pull_request"], "created_at": iso(self.created_at),
            "updated_at": iso(self.created_at), "single_file_name": None, "has_multiple_single_files": False,
            "single_file_paths": [], "repository_selection": "selected", "suspended_at": None, "suspended_by": None,
        }

    # ----------------------------------------------------------- request handling
    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(raw_path)
        path = unquote(split.path).rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        body: Any = None
        record = RecordedRequest(method, path, query, headers, None, at=time.time())
        extra: dict[str, str] = {}
        try:
            if raw_body:
                try:
                    body = json.loads(raw_body)
                except ValueError:
                    raise HTTPError(400) from None
            record.body = body
            with self._lock:
                self.requests.append(record)
                self._rate_remaining = max(0, self._rate_remaining - 1)
                failure = self._take_failure(method, path)
                if failure is not None and not failure.after_processing:
                    raise HTTPError(failure.status, failure.message, headers=failure.headers)
                status, payload, extra = self._route(method, path, query, headers, body)
                if failure is not None:
                    raise HTTPError(failure.status, failure.message, headers=failure.headers)
        except HTTPError as err:
            status = err.status
            payload = {"message": err.message, "documentation_url": DOCS, "status": str(err.status)}
            if err.errors:
                payload["errors"] = err.errors
            extra = err.headers
        record.status = status
        reset = int(time.time()) + 3600
        out_headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
            "X-GitHub-Request-Id": f"LOCAL:{len(self.requests)}",
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(self._rate_remaining),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Used": str(5000 - self._rate_remaining),
            "X-RateLimit-Resource": "core",
        }
        out_headers.update(extra)
        data = b"" if status == 204 else json.dumps(payload).encode()
        return status, out_headers, data

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for f in self._failures:
            if (f.method is None or f.method == method) and (f.path_prefix is None or path.startswith(f.path_prefix)):
                f.times -= 1
                if f.times <= 0:
                    self._failures.remove(f)
                return f
        return None

    def _auth(self, headers: dict[str, str]) -> _Token:
        value = headers.get("authorization", "")
        scheme, _, credential = value.partition(" ")
        if scheme.lower() in ("token", "bearer") and credential in self._tokens:
            tok = self._tokens[credential]
            if tok.expires_at is None or tok.expires_at > datetime.now(timezone.utc):
                return tok
        raise HTTPError(401)

    def _app_from_jwt(self, headers: dict[str, str]) -> _App:
        import jwt

        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPError(401, "A JSON web token could not be decoded")
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise HTTPError(401, "A JSON web token could not be decoded") from None
        for app in self._apps:
            if str(unverified.get("iss")) == str(app.app_id):
                try:
                    jwt.decode(token, app.public_key_pem, algorithms=["RS256"], leeway=60,
                               options={"require": ["iat", "exp", "iss"]})
                except jwt.PyJWTError as exc:
                    raise HTTPError(401, f"'Expiration time' claim ('exp') or signature is invalid: {exc}") from None
                return app
        raise HTTPError(401, "Integration not found")

    def _page(self, items: list[Any], path: str, query: dict[str, str]) -> tuple[list[Any], dict[str, str]]:
        per_page = max(1, min(100, int(query.get("per_page", 30))))
        page = max(1, int(query.get("page", 1)))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        links = []

        def link(p: int, rel: str) -> str:
            q = dict(query, per_page=str(per_page), page=str(p))
            return f'<{self.url}{path}?{urlencode(q)}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        return chunk, ({"Link": ", ".join(links)} if links else {})

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: Any) -> tuple[int, Any, dict[str, str]]:
        body = body if isinstance(body, dict) else {}
        # GitHub App endpoints: authenticated with the App's JWT.
        if path == "/app" and method == "GET":
            return 200, self._app_json(self._app_from_jwt(headers)), {}
        m = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        if m and method == "POST":
            app = self._app_from_jwt(headers)
            if int(m.group(1)) != app.installation_id:
                raise HTTPError(404)
            token = f"ghs_{hashlib.sha1(str(self._next_id()).encode()).hexdigest()[:36]}"
            expires = datetime.now(timezone.utc) + timedelta(hours=1)
            self._tokens[token] = _Token(f"{app.slug}[bot]", "app-installation", expires)
            return 201, {"token": token, "expires_at": iso(expires),
                         "permissions": self._app_json(app)["permissions"], "repository_selection": "selected"}, {}
        if path == f"/repos/{self.full_name}/installation" and method == "GET":
            return 200, self._installation_json(self._app_from_jwt(headers)), {}

        who = self._auth(headers)
        if path == "/user" and method == "GET":
            if who.kind != "user":
                raise HTTPError(403, "Resource not accessible by integration")
            return 200, self._user_json(who.login, full=True), {}
        if path == "/rate_limit":
            core = {"limit": 5000, "remaining": self._rate_remaining, "reset": int(time.time()) + 3600,
                    "used": 5000 - self._rate_remaining}
            return 200, {"resources": {"core": core}, "rate": core}, {}
        prefix = f"/repos/{self.full_name}"
        if not (path == prefix or path.startswith(prefix + "/")):
            raise HTTPError(404)
        sub = path[len(prefix):]
        if sub == "" and method == "GET":
            return 200, self._repo_json(), {}
        handler = self._dispatch(method, sub)
        if handler is None:
            raise HTTPError(404)
        fn, args = handler
        return fn(who, query, body, *args)

    _ROUTES: list[tuple[str, str, str]] = [
        ("GET", r"/issues/(\d+)", "_get_issue"),
        ("GET", r"/issues/(\d+)/comments", "_list_comments"),
        ("POST", r"/issues/(\d+)/comments", "_create_comment"),
        ("GET", r"/issues/comments/(\d+)", "_get_comment"),
        ("PATCH", r"/issues/comments/(\d+)", "_edit_comment"),
        ("POST", r"/statuses/([0-9a-f]{40})", "_create_status"),
        ("GET", r"/commits/([^/]+)/statuses", "_list_statuses"),
        ("GET", r"/git/ref/(.+)", "_get_ref"),
        ("GET", r"/git/refs/(.+)", "_get_ref"),
        ("POST", r"/git/refs", "_create_ref"),
        ("GET", r"/contents/(.+)", "_get_contents"),
        ("PUT", r"/contents/(.+)", "_put_contents"),
        ("GET", r"/pulls", "_list_pulls"),
        ("POST", r"/pulls", "_create_pull"),
        ("GET", r"/pulls/(\d+)", "_get_pull"),
        ("POST", r"/deployments", "_create_deployment"),
        ("GET", r"/deployments", "_list_deployments"),
        ("GET", r"/deployments/(\d+)", "_get_deployment"),
        ("POST", r"/deployments/(\d+)/statuses", "_create_deployment_status"),
        ("GET", r"/deployments/(\d+)/statuses", "_list_deployment_statuses"),
        ("POST", r"/check-runs", "_create_check_run"),
        ("GET", r"/check-runs/(\d+)", "_get_check_run"),
    ]

    def _dispatch(self, method: str, sub: str) -> tuple[Any, tuple[str, ...]] | None:
        for verb, pattern, name in self._ROUTES:
            m = re.fullmatch(pattern, sub)
            if m and verb == method:
                return getattr(self, name), m.groups()
        return None

    # issues and comments
    def _issue(self, number: str) -> _Issue:
        issue = self._issues.get(int(number))
        if issue is None:
            raise HTTPError(404)
        return issue

    def _get_issue(self, who: _Token, q: dict, body: dict, number: str) -> tuple[int, Any, dict]:
        return 200, self._issue_json(self._issue(number)), {}

    def _list_comments(self, who: _Token, q: dict, body: dict, number: str) -> tuple[int, Any, dict]:
        issue = self._issue(number)
        items = [self._comment_json(c) for c in sorted(self._comments.values(), key=lambda c: c.id)
                 if c.issue == issue.number]
        chunk, link = self._page(items, f"/repos/{self.full_name}/issues/{number}/comments", q)
        return 200, chunk, link

    def _check_body(self, text: Any) -> str:
        if not isinstance(text, str) or not text:
            raise HTTPError(422, errors=[{"resource": "IssueComment", "code": "missing_field", "field": "body"}])
        if len(text) > 65536:
            raise HTTPError(422, errors=[{"resource": "IssueComment", "code": "custom", "field": "body",
                                          "message": "Body is too long (maximum is 65536 characters)"}])
        return text

    def _create_comment(self, who: _Token, q: dict, body: dict, number: str) -> tuple[int, Any, dict]:
        issue = self._issue(number)
        cid = self._new_comment(issue.number, self._check_body(body.get("body")), who.login)
        return 201, self._comment_json(self._comments[cid]), {}

    def _get_comment(self, who: _Token, q: dict, body: dict, cid: str) -> tuple[int, Any, dict]:
        c = self._comments.get(int(cid))
        if c is None:
            raise HTTPError(404)
        return 200, self._comment_json(c), {}

    def _edit_comment(self, who: _Token, q: dict, body: dict, cid: str) -> tuple[int, Any, dict]:
        c = self._comments.get(int(cid))
        if c is None:
            raise HTTPError(404)
        c.body = self._check_body(body.get("body"))
        c.updated_at = datetime.now(timezone.utc)
        return 200, self._comment_json(c), {}

    # commit statuses
    def _create_status(self, who: _Token, q: dict, body: dict, sha: str) -> tuple[int, Any, dict]:
        if sha not in self._commits:
            raise HTTPError(422, f"No commit found for SHA: {sha}")
        state = body.get("state")
        if state not in ("error", "failure", "pending", "success"):
            raise HTTPError(422, errors=[{"resource": "Status", "field": "state", "code": "custom",
                                          "message": "state is not included in the list"}])
        description = body.get("description")
        if description is not None and len(description) > 140:
            raise HTTPError(422, errors=[{"resource": "Status", "code": "custom", "field": "description",
                                          "message": "description is too long (maximum is 140 characters)"}])
        now = iso(datetime.now(timezone.utc))
        sid = self._next_id()
        status = {
            "url": f"{self.repo_api}/statuses/{sha}", "avatar_url": f"{self.url}/avatars/u/{self._user_id(who.login)}",
            "id": sid, "node_id": f"SC_{sid}", "state": state, "description": description,
            "target_url": body.get("target_url"), "context": body.get("context") or "default",
            "created_at": now, "updated_at": now, "creator": self._user_json(who.login), "_sha": sha,
        }
        self._statuses.append(status)
        return 201, self._status_json(status), {}

    def _list_statuses(self, who: _Token, q: dict, body: dict, ref: str) -> tuple[int, Any, dict]:
        sha = self._resolve(ref)
        if sha is None:
            raise HTTPError(404)
        items = [self._status_json(s) for s in reversed(self._statuses) if s["_sha"] == sha]
        chunk, link = self._page(items, f"/repos/{self.full_name}/commits/{ref}/statuses", q)
        return 200, chunk, link

    # git refs
    def _get_ref(self, who: _Token, q: dict, body: dict, ref: str) -> tuple[int, Any, dict]:
        full = ref if ref.startswith("refs/") else f"refs/{ref}"
        if full not in self._refs:
            raise HTTPError(404)
        return 200, self._ref_json(full), {}

    def _create_ref(self, who: _Token, q: dict, body: dict) -> tuple[int, Any, dict]:
        ref, sha = body.get("ref", ""), body.get("sha", "")
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise HTTPError(422, "Reference name must start with 'refs/' and have at least two slashes.")
        if sha not in self._commits:
            raise HTTPError(422, "Object does not exist")
        if ref in self._refs:
            raise HTTPError(422, "Reference already exists")
        self._refs[ref] = sha
        return 201, self._ref_json(ref), {}

    # contents
    def _get_contents(self, who: _Token, q: dict, body: dict, path: str) -> tuple[int, Any, dict]:
        ref = q.get("ref") or self.default_branch
        sha = self._resolve(ref)
        if sha is None:
            raise HTTPError(404, f"No commit found for the ref {ref}")
        blob = self._commits[sha].tree.get(path)
        if blob is None:
            raise HTTPError(404)
        return 200, self._contents_json(path, blob, ref), {}

    def _put_contents(self, who: _Token, q: dict, body: dict, path: str) -> tuple[int, Any, dict]:
        for required in ("message", "content"):
            if required not in body:
                raise HTTPError(422, f'Invalid request.\n\n"{required}" wasn\'t supplied.')
        branch = body.get("branch") or self.default_branch
        ref = f"refs/heads/{branch}"
        if ref not in self._refs:
            raise HTTPError(404, f"Branch {branch} not found")
        try:
            data = base64.b64decode(body["content"], validate=True)
        except ValueError:
            raise HTTPError(422, "content is not valid Base64") from None
        head = self._commits[self._refs[ref]]
        existing = head.tree.get(path)
        if existing is not None and "sha" not in body:
            raise HTTPError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
        if existing is not None and body["sha"] != existing:
            raise HTTPError(409, f"{path} does not match {body['sha']}")
        new = self._commit({path: data}, [head.sha], body["message"], head.tree)
        self._refs[ref] = new
        out = {"content": self._contents_json(path, git_blob_sha(data), branch, with_content=False),
               "commit": self._git_commit_json(new)}
        return (200 if existing is not None else 201), out, {}

    # pull requests
    def _list_pulls(self, who: _Token, q: dict, body: dict) -> tuple[int, Any, dict]:
        state = q.get("state", "open")
        pulls = [i for i in sorted(self._issues.values(), key=lambda i: i.number, reverse=True) if i.is_pull]
        if state != "all":
            pulls = [i for i in pulls if i.state == state]
        if "head" in q:
            pulls = [i for i in pulls if f"{self.owner}:{i.head}" == q["head"]]
        if "base" in q:
            pulls = [i for i in pulls if i.base == q["base"]]
        items = [self._pull_json(i, full=False) for i in pulls]
        chunk, link = self._page(items, f"/repos/{self.full_name}/pulls", q)
        return 200, chunk, link

    def _create_pull(self, who: _Token, q: dict, body: dict) -> tuple[int, Any, dict]:
        head = str(body.get("head", ""))
        head_branch = head.split(":", 1)[1] if ":" in head else head
        base = str(body.get("base", ""))
        if not body.get("title"):
            raise HTTPError(422, errors=[{"resource": "PullRequest", "code": "missing_field", "field": "title"}])
        for field_name, branch in (("head", head_branch), ("base", base)):
            if f"refs/heads/{branch}" not in self._refs:
                raise HTTPError(422, errors=[{"resource": "PullRequest", "field": field_name, "code": "invalid"}])
        for i in self._issues.values():
            if i.is_pull and i.state == "open" and i.head == head_branch and i.base == base:
                raise HTTPError(422, errors=[{"resource": "PullRequest", "code": "custom",
                                              "message": f"A pull request already exists for {self.owner}:{head_branch}."}])
        if self._refs[f"refs/heads/{head_branch}"] == self._refs[f"refs/heads/{base}"]:
            raise HTTPError(422, errors=[{"resource": "PullRequest", "code": "custom",
                                          "message": f"No commits between {base} and {head_branch}"}])
        number = self._new_issue(body["title"], body.get("body") or "", who.login, is_pull=True,
                                 head=head_branch, base=base)
        return 201, self._pull_json(self._issues[number]), {}

    def _get_pull(self, who: _Token, q: dict, body: dict, number: str) -> tuple[int, Any, dict]:
        issue = self._issue(number)
        if not issue.is_pull:
            raise HTTPError(404)
        return 200, self._pull_json(issue), {}

    # deployments
    def _create_deployment(self, who: _Token, q: dict, body: dict) -> tuple[int, Any, dict]:
        ref = body.get("ref", "")
        sha = self._resolve(ref)
        if sha is None:
            raise HTTPError(422, f"No ref found for: {ref}")
        did = self._next_id()
        now = iso(datetime.now(timezone.utc))
        environment = body.get("environment") or "production"
        deployment = {
            "url": f"{self.repo_api}/deployments/{did}", "id": did, "node_id": f"DE_{did}", "sha": sha,
            "ref": ref, "task": body.get("task") or "deploy", "payload": body.get("payload") or {},
            "original_environment": environment, "environment": environment,
            "description": body.get("description"), "creator": self._user_json(who.login),
            "created_at": now, "updated_at": now, "statuses_url": f"{self.repo_api}/deployments/{did}/statuses",
            "repository_url": self.repo_api, "transient_environment": False,
            "production_environment": environment == "production",
        }
        self._deployments[did] = deployment
        self._deployment_statuses[did] = []
        return 201, self._deployment_json(deployment), {}

    def _list_deployments(self, who: _Token, q: dict, body: dict) -> tuple[int, Any, dict]:
        items = [self._deployment_json(d) for d in reversed(list(self._deployments.values()))]
        chunk, link = self._page(items, f"/repos/{self.full_name}/deployments", q)
        return 200, chunk, link

    def _deployment(self, did: str) -> dict[str, Any]:
        d = self._deployments.get(int(did))
        if d is None:
            raise HTTPError(404)
        return d

    def _get_deployment(self, who: _Token, q: dict, body: dict, did: str) -> tuple[int, Any, dict]:
        return 200, self._deployment_json(self._deployment(did)), {}

    def _create_deployment_status(self, who: _Token, q: dict, body: dict, did: str) -> tuple[int, Any, dict]:
        d = self._deployment(did)
        state = body.get("state")
        if state not in ("error", "failure", "inactive", "in_progress", "queued", "pending", "success"):
            raise HTTPError(422, errors=[{"resource": "DeploymentStatus", "field": "state", "code": "invalid"}])
        sid = self._next_id()
        now = iso(datetime.now(timezone.utc))
        status = {
            "url": f"{d['url']}/statuses/{sid}", "id": sid, "node_id": f"DES_{sid}", "state": state,
            "creator": self._user_json(who.login), "description": body.get("description", ""),
            "environment": body.get("environment") or d["environment"], "target_url": body.get("target_url", ""),
            "log_url": body.get("log_url", body.get("target_url", "")), "created_at": now, "updated_at": now,
            "deployment_url": d["url"], "repository_url": self.repo_api,
            "environment_url": body.get("environment_url", ""),
        }
        self._deployment_statuses[d["id"]].append(status)
        return 201, dict(status), {}

    def _list_deployment_statuses(self, who: _Token, q: dict, body: dict, did: str) -> tuple[int, Any, dict]:
        d = self._deployment(did)
        items = [dict(s) for s in reversed(self._deployment_statuses[d["id"]])]
        chunk, link = self._page(items, f"/repos/{self.full_name}/deployments/{did}/statuses", q)
        return 200, chunk, link

    # check runs
    def _create_check_run(self, who: _Token, q: dict, body: dict) -> tuple[int, Any, dict]:
        if who.kind == "user":
            raise HTTPError(403, "You must authenticate via a GitHub App.")
        head_sha = body.get("head_sha", "")
        if head_sha not in self._commits:
            raise HTTPError(422, f"No commit found for SHA: {head_sha}")
        if not body.get("name"):
            raise HTTPError(422, errors=[{"resource": "CheckRun", "code": "missing_field", "field": "name"}])
        app = next((a for a in self._apps if who.login == f"{a.slug}[bot]"), None)
        rid = self._next_id()
        now = iso(datetime.now(timezone.utc))
        output = body.get("output") or {}
        slug = app.slug if app else "github-actions"
        run = {
            "id": rid, "head_sha": head_sha, "node_id": f"CR_{rid}", "external_id": body.get("external_id", ""),
            "url": f"{self.repo_api}/check-runs/{rid}",
            "html_url": f"{self.html_root}/{self.full_name}/runs/{rid}", "details_url": body.get("details_url"),
            "status": body.get("status", "queued"), "conclusion": body.get("conclusion"),
            "started_at": body.get("started_at") or now, "completed_at": body.get("completed_at"),
            "output": {"title": output.get("title"), "summary": output.get("summary"), "text": output.get("text"),
                       "annotations_count": 0, "annotations_url": f"{self.repo_api}/check-runs/{rid}/annotations"},
            "name": body["name"], "check_suite": {"id": 5000 + rid},
            "app": self._app_json(app) if app else {
                "id": 15368, "slug": slug, "node_id": "MDM6QXBwMTUzNjg=", "owner": self._user_json("github"),
                "name": "GitHub Actions", "description": "", "external_url": "https://help.github.com/en/actions",
                "html_url": f"{self.html_root}/apps/{slug}", "created_at": iso(self.created_at),
                "updated_at": iso(self.created_at), "permissions": {}, "events": []},
            "pull_requests": [],
        }
        self._check_runs[rid] = run
        return 201, dict(run), {}

    def _get_check_run(self, who: _Token, q: dict, body: dict, rid: str) -> tuple[int, Any, dict]:
        run = self._check_runs.get(int(rid))
        if run is None:
            raise HTTPError(404)
        return 200, dict(run), {}


class _Handler(BaseHTTPRequestHandler):
    api: GitHubAPIServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid the 40 ms delayed-ACK stall

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, out_headers, data = self.api.handle(self.command, self.path, headers, raw)
        self.send_response(status)
        for k, v in out_headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass


@pytest.fixture
def github_server() -> Iterator[GitHubAPIServer]:
    """A fresh GitHub API server per test; ``.url`` is the API root, ``.token`` a valid token."""
    with GitHubAPIServer() as server:
        yield server
