"""The GitHub forge: GitHub's REST API through github3.py.

Endpoints used (https://docs.github.com/en/rest):

* sticky comment: ``GET /repos/{o}/{r}/issues/{n}``, ``GET .../issues/{n}/comments``
  (every page), ``PATCH /repos/{o}/{r}/issues/comments/{id}`` or ``POST .../comments``;
* commit status: ``POST /repos/{o}/{r}/statuses/{sha}``;
* check run: ``POST /repos/{o}/{r}/check-runs`` with a GitHub App installation token
  (``POST /app/installations/{id}/access_tokens`` with the App's RS256 JWT; the
  installation is found with ``GET /repos/{o}/{r}/installation`` when its id is not set);
* pull request: ``GET /repos/{o}/{r}/git/ref/heads/{base}``, ``POST .../git/refs``,
  ``GET``/``PUT /repos/{o}/{r}/contents/{path}``, ``GET``/``POST /repos/{o}/{r}/pulls``;
* deployments: ``POST /repos/{o}/{r}/deployments``, ``GET .../deployments/{id}``,
  ``POST .../deployments/{id}/statuses``.

Every operation runs as one read-then-write unit inside
:func:`~alignment_ci.forge.retry.call_with_retries`, so a retry after a 502 re-reads
before it writes (it finds the comment a lost response had created instead of
creating a second one). Errors GitHub will not fix by waiting become a
:class:`~alignment_ci.forge.base.ForgeError` naming the token permission to grant.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from .base import (
    CHECK_CONCLUSIONS,
    CHECK_SUMMARY_MAX_CHARS,
    COMMIT_STATES,
    DEFAULT_CHECK_NAME,
    DEFAULT_STATUS_CONTEXT,
    DEPLOYMENT_STATES,
    CheckRunRef,
    CommentRef,
    ForgeError,
    PullRequestRef,
    check_branch,
    check_choice,
    check_kind,
    check_pr,
    check_repo_path,
    check_sha,
    has_marker,
    short_description,
    sticky_body,
)
from .retry import RetryPolicy, call_with_retries, is_transient

if TYPE_CHECKING:
    import github3

    from . import ForgeSettings

T = TypeVar("T")
DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
ACTIONS_BOT = "github-actions[bot]"
_JWT_LIFETIME_S = 540

_PERMISSION_HINT = {
    "comment": "pull-requests: write (or issues: write)",
    "status": "statuses: write",
    "check run": "checks: write (GitHub App installation)",
    "pull request": "contents: write and pull-requests: write",
    "deployment": "deployments: write",
    "repository": "contents: read",
}


@dataclass(frozen=True)
class AppCredentials:
    """A GitHub App: its id, its private key (PEM bytes), and optionally the installation id."""

    app_id: int
    private_key_pem: bytes
    installation_id: int | None = None

    def __repr__(self) -> str:  # never print the key
        return f"AppCredentials(app_id={self.app_id}, installation_id={self.installation_id})"


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class GitHubForge:
    """Publishes to one GitHub repository. Authenticates with ``token``, with ``app``, or both
    (then the token does everything but check runs, which need the App)."""

    name = "github"

    def __init__(
        self,
        repository: str,
        *,
        token: str | None = None,
        app: AppCredentials | None = None,
        api_url: str = DEFAULT_API_URL,
        comment_author: str | None = None,
        in_actions: bool = False,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        owner, _, name = (repository or "").partition("/")
        if not owner or not name or "/" in name:
            raise ForgeError(
                f"GitHub repository {repository!r} is not 'owner/name': set forge.repository or GITHUB_REPOSITORY"
            )
        if not token and app is None:
            raise ForgeError(
                "the github forge needs credentials: set GITHUB_TOKEN (in a workflow: "
                "`env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`) or GitHub App credentials"
            )
        self.owner, self.repo_name = owner, name
        self.repository = repository
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._app = app
        self._comment_author = comment_author
        self._author_resolved = comment_author is not None
        self._in_actions = in_actions
        self.retry = retry or RetryPolicy()
        self._sleep = sleep or time.sleep
        self._clock = clock or time.time
        self._timeout_s = timeout_s
        self._main_client: "github3.GitHub | None" = None
        self._app_client: "github3.GitHub | None" = None
        self._repo_obj: Any = None
        self._app_repo_obj: Any = None
        self._app_slug: str | None = None

    @classmethod
    def from_settings(
        cls,
        settings: "ForgeSettings",
        *,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> "GitHubForge":
        env = os.environ if environ is None else environ
        app = None
        app_id, key = env.get(settings.app_id_env), env.get(settings.app_private_key_env)
        if app_id or key:
            if not (app_id and key):
                raise ForgeError(
                    f"GitHub App credentials are half set: set both {settings.app_id_env} and "
                    f"{settings.app_private_key_env} (PEM), or neither"
                )
            installation = env.get(settings.app_installation_id_env)
            try:
                app = AppCredentials(
                    app_id=int(app_id),
                    # A key pasted into a one-line secret often carries literal "\n"s.
                    private_key_pem=(key if "\n" in key else key.replace("\\n", "\n")).encode("utf-8"),
                    installation_id=int(installation) if installation else None,
                )
            except ValueError:
                raise ForgeError(
                    f"{settings.app_id_env} and {settings.app_installation_id_env} must be integers"
                ) from None
        return cls(
            settings.repository or env.get("GITHUB_REPOSITORY", ""),
            token=env.get(settings.token_env) or None,
            app=app,
            api_url=settings.api_url or env.get("GITHUB_API_URL") or DEFAULT_API_URL,
            comment_author=settings.comment_author,
            in_actions=env.get("GITHUB_ACTIONS") == "true",
            retry=RetryPolicy(max_attempts=settings.max_attempts, max_wait=settings.max_wait_s),
            sleep=sleep,
            timeout_s=settings.timeout_s,
        )

    # ------------------------------------------------------------- plumbing
    def _new_client(self) -> "github3.GitHub":
        import github3
        from github3.session import GitHubSession

        session = GitHubSession(default_connect_timeout=10, default_read_timeout=self._timeout_s)
        gh = github3.GitHub(session=session, api_version=API_VERSION)
        # The supported way to aim github3.py at another API root (GitHubEnterprise does
        # the same, but also appends /api/v3, which GITHUB_API_URL already contains).
        gh.session.base_url = self.api_url
        return gh

    def _installation_client(self) -> "github3.GitHub":
        """A client holding an App installation token (RS256 JWT exchanged for a 1-hour token)."""
        if self._app_client is None:
            import github3
            import requests

            assert self._app is not None
            gh = self._new_client()
            # github3.py's own login_as_app* build the JWT with an integer ``iss``, which
            # PyJWT >= 2.10 refuses; GitHub documents ``iss`` as the App id (a string is
            # accepted) and ``iat`` 60 s in the past against clock drift.
            gh.session.app_bearer_token_auth(self._app_jwt(), _JWT_LIFETIME_S)
            self._app_slug = gh.authenticated_app().slug
            installation_id = self._app.installation_id
            if installation_id is None:
                installation_id = gh.app_installation_for_repository(self.owner, self.repo_name).id
            url = gh.session.build_url("app", "installations", str(installation_id), "access_tokens")
            try:
                response = gh.session.post(url)
            except requests.exceptions.RequestException as exc:
                raise github3.exceptions.ConnectionError(exc) from None
            if response.status_code != 201:
                raise github3.exceptions.error_for(response)
            gh.session.app_installation_token_auth(response.json())
            self._app_client = gh
        return self._app_client

    def _app_jwt(self) -> str:
        import jwt

        assert self._app is not None
        now = int(self._clock())
        claims = {"iat": now - 60, "exp": now + _JWT_LIFETIME_S, "iss": str(self._app.app_id)}
        try:
            return jwt.encode(claims, self._app.private_key_pem, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise ForgeError(
                f"the GitHub App private key cannot sign a JWT ({exc}): put the App's PEM key in the key variable"
            ) from None

    def _client(self) -> "github3.GitHub":
        if self._main_client is None:
            if self._token:
                gh = self._new_client()
                gh.login(token=self._token)
                self._main_client = gh
            else:
                self._main_client = self._installation_client()
        return self._main_client

    def _repo(self) -> Any:
        if self._repo_obj is None:
            self._repo_obj = self._client().repository(self.owner, self.repo_name)
        return self._repo_obj

    def _run(self, what: str, topic: str, fn: Callable[[], T]) -> T:
        """Run one unit with retries; turn what GitHub will not fix by waiting into a ForgeError."""
        from github3 import exceptions as gh_exc

        try:
            return call_with_retries(
                fn, self.retry, sleep=self._sleep, clock=self._clock, what=f"{what} on {self.repository}"
            )
        except ForgeError:
            raise
        except gh_exc.TransportError as exc:
            raise ForgeError(f"{what}: could not reach {self.api_url} ({exc.msg}); check the network and forge.api_url") from None
        except gh_exc.GitHubError as exc:
            code, msg = exc.code, exc.msg
            if code == 401:
                hint = "the token is missing, wrong or expired: check GITHUB_TOKEN / the App credentials"
            elif code in (403, 404):
                hint = (
                    f"not found or not allowed: check {self.repository} and give the token "
                    f"{_PERMISSION_HINT.get(topic, 'the needed permission')} (workflow `permissions:`)"
                )
            elif code == 422:
                details = "; ".join(str(e.get("message") or e) if isinstance(e, dict) else str(e) for e in exc.errors)
                hint = f"GitHub rejected the request{': ' + details if details else ''}"
            else:
                hint = "GitHub kept failing; rerun the step later"
            raise ForgeError(f"{what} failed: HTTP {code} {msg}: {hint}") from None

    # ------------------------------------------------------------- comments
    def _author(self) -> str | None:
        """The login whose comments are ours, when it can be known (see ForgeSettings.comment_author)."""
        if not self._author_resolved:
            from github3 import exceptions as gh_exc

            def unit() -> str | None:
                if not self._token:
                    self._installation_client()
                    return f"{self._app_slug}[bot]" if self._app_slug else None
                try:
                    return self._client().me().login
                except (gh_exc.ForbiddenError, gh_exc.NotFoundError) as exc:
                    if is_transient(exc):  # a rate limit: let the retry loop wait it out
                        raise
                    # An Actions or App installation token cannot read /user
                    # ("Resource not accessible by integration").
                    return ACTIONS_BOT if self._in_actions else None

            self._comment_author = self._run("finding the authenticated user", "repository", unit)
            self._author_resolved = True
        return self._comment_author

    def upsert_comment(self, pr: int, kind: str, body: str) -> CommentRef:
        """One comment per pull request and kind: found by its hidden marker (and author), edited in place."""
        check_pr(pr)
        check_kind(kind)
        text = sticky_body(kind, body)
        author = self._author()

        def unit() -> CommentRef:
            issue = self._repo().issue(pr)
            ours = None
            for comment in issue.comments():  # github3 follows every Link: rel="next" page
                if has_marker(comment.body, kind) and (author is None or comment.user.login == author):
                    ours = comment
                    break  # the oldest one: GitHub lists issue comments in ascending id order
            if ours is None:
                created = issue.create_comment(text)
                return CommentRef(id=created.id, url=created.html_url, created=True, changed=True)
            changed = ours.body != text
            if changed:
                ours.edit(text)
            return CommentRef(id=ours.id, url=ours.html_url, created=False, changed=changed)

        return self._run(f"posting the {kind} comment on pull request #{pr}", "comment", unit)

    # ------------------------------------------------------------- statuses and checks
    def set_status(
        self,
        sha: str,
        state: str,
        description: str,
        target_url: str | None = None,
        context: str = DEFAULT_STATUS_CONTEXT,
    ) -> dict[str, Any]:
        check_sha(sha)
        check_choice(state, COMMIT_STATES, "commit status state")
        desc = short_description(description)

        def unit() -> dict[str, Any]:
            status = self._repo().create_status(sha, state, target_url=target_url, description=desc, context=context)
            return {
                "id": status.id,
                "context": status.context,
                "state": status.state,
                "description": status.description,
                "target_url": status.target_url,
            }

        return self._run(f"setting status {context}={state} on {sha[:12]}", "status", unit)

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
        """A completed check run; ``None`` without GitHub App credentials (GitHub only lets Apps create them)."""
        check_sha(sha)
        check_choice(conclusion, CHECK_CONCLUSIONS, "check run conclusion")
        if self._app is None:
            return None
        output = {"title": title, "summary": summary[:CHECK_SUMMARY_MAX_CHARS]}
        if text:
            output["text"] = text[:CHECK_SUMMARY_MAX_CHARS]

        def unit() -> CheckRunRef:
            if self._app_repo_obj is None:
                self._app_repo_obj = self._installation_client().repository(self.owner, self.repo_name)
            run = self._app_repo_obj.create_check_run(
                name,
                sha,
                details_url=details_url,
                status="completed",
                conclusion=conclusion,
                completed_at=_now_iso(),
                output=output,
            )
            return CheckRunRef(id=run.id, url=run.html_url)

        return self._run(f"creating check run {name!r} on {sha[:12]}", "check run", unit)

    # ------------------------------------------------------------- pull requests
    def open_pull_request(
        self, branch: str, base: str, title: str, body: str, files: dict[str, bytes]
    ) -> PullRequestRef:
        """Branch ``branch`` from ``base`` (if new), commit each changed file, open or find the pull request."""
        from github3 import exceptions as gh_exc

        check_branch(branch)
        check_branch(base)
        if branch == base:
            raise ForgeError(f"cannot open a pull request from {branch!r} onto itself: use a new branch name")
        for path, content in files.items():
            check_repo_path(path)
            if not isinstance(content, (bytes, bytearray)) or not content:
                raise ForgeError(f"file {path!r}: content must be non-empty bytes")
        what = f"opening a pull request from {branch} onto {base}"

        def ensure_branch() -> None:
            repo = self._repo()
            try:
                repo.ref(f"heads/{branch}")
                return
            except gh_exc.NotFoundError:
                pass
            base_sha = repo.ref(f"heads/{base}").object.sha
            try:
                repo.create_ref(f"refs/heads/{branch}", base_sha)
            except gh_exc.UnprocessableEntity:  # "Reference already exists": a lost response created it
                repo.ref(f"heads/{branch}")

        self._run(what, "pull request", ensure_branch)
        for path, content in sorted(files.items()):
            data = bytes(content)

            def put_file(path: str = path, data: bytes = data) -> None:
                repo = self._repo()
                try:
                    existing = repo.file_contents(path, ref=branch)
                except gh_exc.NotFoundError:
                    existing = None
                message = f"alignment-ci: add {path}" if existing is None else f"alignment-ci: update {path}"
                if existing is None:
                    repo.create_file(path, message, data, branch=branch)
                elif existing.decoded != data:
                    existing.update(message, data, branch=branch)

            self._run(f"{what}: writing {path}", "pull request", put_file)

        def find_or_create() -> PullRequestRef:
            repo = self._repo()
            head = f"{self.owner}:{branch}"
            for pull in repo.pull_requests(state="open", head=head):
                return PullRequestRef(number=pull.number, url=pull.html_url, created=False)
            try:
                pull = repo.create_pull(title, base, branch, body=body)
            except gh_exc.UnprocessableEntity:  # "A pull request already exists" (a lost response)
                for pull in repo.pull_requests(state="open", head=head):
                    return PullRequestRef(number=pull.number, url=pull.html_url, created=False)
                raise
            return PullRequestRef(number=pull.number, url=pull.html_url, created=True)

        return self._run(what, "pull request", find_or_create)

    # ------------------------------------------------------------- deployments
    def create_deployment(
        self, ref: str, environment: str, payload: dict[str, Any], required_contexts: list[str] | None = None
    ) -> int:
        """A new deployment (``required_contexts=[]`` by default: the gates already ran on the PR)."""
        if not ref or not environment:
            raise ForgeError("a deployment needs a ref (branch, tag or sha) and an environment name")

        def unit() -> int:
            deployment = self._repo().create_deployment(
                ref,
                required_contexts=required_contexts or [],
                payload=payload,
                auto_merge=False,
                description=f"alignment-ci rollout to {environment}",
                environment=environment,
            )
            return int(deployment.id)

        return self._run(f"creating a deployment of {ref} to {environment}", "deployment", unit)

    def set_deployment_status(
        self, deployment_id: int, state: str, description: str, target_url: str | None = None
    ) -> dict[str, Any]:
        check_choice(state, DEPLOYMENT_STATES, "deployment state")
        desc = short_description(description)

        def unit() -> dict[str, Any]:
            deployment = self._repo().deployment(int(deployment_id))
            status = deployment.create_status(state, target_url=target_url, description=desc)
            return {"id": status.id, "state": status.state, "description": status.description}

        return self._run(f"setting deployment {deployment_id} to {state}", "deployment", unit)
