"""The GitHub forge against a real HTTP server that answers like GitHub's REST API.

github3.py talks HTTP to tests/github_server.py on 127.0.0.1; nothing is mocked
between the forge and the socket.
"""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from alignment_ci.forge import ForgeError, ForgeSettings, RateLimited, comment_marker, open_forge
from alignment_ci.forge.actions import actions_context
from alignment_ci.forge.github import AppCredentials, GitHubForge
from alignment_ci.forge.local import LocalForge
from alignment_ci.forge.retry import RetryPolicy, retry_delay
from tests.github_server import GitHubAPIServer, github_server  # noqa: F401

COMMENTS = "/repos/octo-org/alignment-repo/issues/1/comments"
STATUSES = "/repos/octo-org/alignment-repo/statuses/"


def make_forge(server: GitHubAPIServer, sleeps: list[float] | None = None, **kw) -> GitHubForge:
    kw.setdefault("token", server.token)
    return GitHubForge(
        server.full_name,
        api_url=server.url,
        sleep=(sleeps.append if sleeps is not None else None),
        **kw,
    )


@pytest.fixture(scope="module")
def app_key() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


# ----------------------------------------------------------------- sticky comment
def test_rerun_edits_the_same_comment(github_server: GitHubAPIServer) -> None:
    pr, _ = github_server.add_pull_request()
    forge = make_forge(github_server)
    first = forge.upsert_comment(pr, "report", "Gates: 3 passed, 1 failed")
    second = make_forge(github_server).upsert_comment(pr, "report", "Gates: 4 passed")  # a new process, a rerun

    assert (first.created, second.created) == (True, False)
    assert second.id == first.id
    comments = github_server.comments_on(pr)
    assert len(comments) == 1
    assert comments[0]["body"] == "<!-- alignment-ci:report:report -->\nGates: 4 passed"
    assert comments[0]["user"]["login"] == "alignment-bot"
    assert len(github_server.calls("POST", COMMENTS)) == 1
    assert [r.body for r in github_server.calls("PATCH", "/repos/octo-org/alignment-repo/issues/comments/")] == [
        {"body": "<!-- alignment-ci:report:report -->\nGates: 4 passed"}
    ]


def test_each_report_kind_has_its_own_comment(github_server: GitHubAPIServer) -> None:
    pr, _ = github_server.add_pull_request()
    forge = make_forge(github_server)
    a = forge.upsert_comment(pr, "report", "gates")
    b = forge.upsert_comment(pr, "quality", "alpha 0.81")
    forge.upsert_comment(pr, "report", "gates again")
    bodies = [c["body"] for c in github_server.comments_on(pr)]
    assert a.id != b.id
    assert bodies == [
        "<!-- alignment-ci:report:report -->\ngates again",
        "<!-- alignment-ci:report:quality -->\nalpha 0.81",
    ]


def test_unchanged_body_is_not_patched(github_server: GitHubAPIServer) -> None:
    pr, _ = github_server.add_pull_request()
    forge = make_forge(github_server)
    forge.upsert_comment(pr, "report", "same")
    ref = forge.upsert_comment(pr, "report", "same")
    assert (ref.created, ref.changed) == (False, False)
    assert github_server.calls("PATCH") == []


def test_sticky_comment_on_the_second_page_is_found(github_server: GitHubAPIServer) -> None:
    pr, _ = github_server.add_pull_request()
    for i in range(130):
        github_server.add_comment(pr, f"review note {i}", user="reviewer")
    ours = github_server.add_comment(pr, comment_marker("report") + "\nold report", user="alignment-bot")

    ref = make_forge(github_server).upsert_comment(pr, "report", "new report")

    assert ref.id == ours and ref.created is False
    comments = github_server.comments_on(pr)
    assert len(comments) == 131
    assert comments[-1]["body"] == comment_marker("report") + "\nnew report"
    assert [r.query.get("page") for r in github_server.calls("GET", COMMENTS)] == [None, "2"]


def test_marker_in_someone_elses_comment_is_left_alone(github_server: GitHubAPIServer) -> None:
    pr, _ = github_server.add_pull_request()
    planted = github_server.add_comment(pr, comment_marker("report") + "\nfake all-green report", user="mallory")
    ref = make_forge(github_server).upsert_comment(pr, "report", "real report")
    assert ref.created is True and ref.id != planted
    bodies = {c["user"]["login"]: c["body"] for c in github_server.comments_on(pr)}
    assert bodies["mallory"].endswith("fake all-green report")
    assert bodies["alignment-bot"].endswith("real report")


def test_actions_token_comments_as_github_actions_bot(github_server: GitHubAPIServer) -> None:
    pr, _ = github_server.add_pull_request()
    github_server.add_token("ghs_actions_token", "github-actions[bot]", kind="actions")
    github_server.add_comment(pr, comment_marker("report") + "\nby a person", user="contributor")
    forge = make_forge(github_server, token="ghs_actions_token", in_actions=True)
    first = forge.upsert_comment(pr, "report", "v1")
    second = make_forge(github_server, token="ghs_actions_token", in_actions=True).upsert_comment(pr, "report", "v2")
    assert first.created and not second.created and first.id == second.id
    assert github_server.calls("GET", "/user")[0].status == 403  # an installation token cannot read /user
    assert [c["body"].splitlines()[-1] for c in github_server.comments_on(pr)] == ["by a person", "v2"]


def test_lost_response_does_not_duplicate_the_comment(github_server: GitHubAPIServer) -> None:
    pr, _ = github_server.add_pull_request()
    github_server.fail_next(502, path_prefix=COMMENTS, method="POST", after_processing=True)
    sleeps: list[float] = []
    ref = make_forge(github_server, sleeps).upsert_comment(pr, "report", "body")
    assert len(github_server.comments_on(pr)) == 1
    assert ref.created is False  # the retry found the comment the lost response had created
    assert sleeps == [1.0]


def test_overlong_report_is_cut_to_githubs_limit(github_server: GitHubAPIServer) -> None:
    pr, _ = github_server.add_pull_request()
    make_forge(github_server).upsert_comment(pr, "report", "x" * 70000)
    body = github_server.comments_on(pr)[0]["body"]
    assert len(body) == 65536
    assert body.endswith("(truncated: the full report is in the workflow's artifacts)")


# ----------------------------------------------------------------- commit status
def test_failing_gate_sets_status_failure(github_server: GitHubAPIServer) -> None:
    pr, head_sha = github_server.add_pull_request()
    forge = make_forge(github_server)
    forge.set_status(head_sha, "pending", "gates running")
    forge.set_status(head_sha, "failure", "2 of 9 gates failed: safety_refusal, gold_accuracy",
                     target_url="https://example.test/run/1")
    latest = github_server.statuses_for(head_sha)[0]
    assert (latest["context"], latest["state"]) == ("alignment-ci/gates", "failure")
    assert latest["description"] == "2 of 9 gates failed: safety_refusal, gold_accuracy"
    assert latest["target_url"] == "https://example.test/run/1"
    assert [s["state"] for s in github_server.statuses_for(head_sha)] == ["failure", "pending"]


def test_status_description_is_cut_to_140_characters(github_server: GitHubAPIServer) -> None:
    _, sha = github_server.add_pull_request()
    out = make_forge(github_server).set_status(sha, "success", "word " * 60)
    assert len(out["description"]) == 140 and out["description"].endswith("…")


def test_invalid_state_is_refused_before_any_request(github_server: GitHubAPIServer) -> None:
    _, sha = github_server.add_pull_request()
    with pytest.raises(ForgeError, match="invalid commit status state 'failed'"):
        make_forge(github_server).set_status(sha, "failed", "x")
    assert github_server.requests == []


# ----------------------------------------------------------------- retries and rate limits
def test_secondary_rate_limit_is_waited_out(github_server: GitHubAPIServer) -> None:
    pr, _ = github_server.add_pull_request()
    github_server.secondary_rate_limit_next(retry_after=7, path_prefix=COMMENTS, method="POST")
    sleeps: list[float] = []
    ref = make_forge(github_server, sleeps).upsert_comment(pr, "report", "body")
    assert sleeps == [7.0]
    assert ref.created is True
    assert [r.status for r in github_server.calls("POST", COMMENTS)] == [403, 201]
    assert len(github_server.comments_on(pr)) == 1


def test_secondary_rate_limit_without_retry_after_waits_a_minute(github_server: GitHubAPIServer) -> None:
    _, sha = github_server.add_pull_request()
    github_server.secondary_rate_limit_next(retry_after=None)
    sleeps: list[float] = []
    make_forge(github_server, sleeps).set_status(sha, "success", "ok")
    assert sleeps == [60.0]


def test_primary_rate_limit_waits_until_reset(github_server: GitHubAPIServer) -> None:
    _, sha = github_server.add_pull_request()
    now = 1_750_000_000.0
    github_server.primary_rate_limit_next(reset_at=now + 42)
    sleeps: list[float] = []
    make_forge(github_server, sleeps, clock=lambda: now).set_status(sha, "success", "ok")
    assert sleeps == [43.0]  # until the reset second, plus the one-second margin
    assert github_server.statuses_for(sha)[0]["state"] == "success"


def test_retry_after_is_really_slept(github_server: GitHubAPIServer) -> None:
    _, sha = github_server.add_pull_request()
    github_server.secondary_rate_limit_next(retry_after=1, path_prefix=STATUSES)
    make_forge(github_server).set_status(sha, "success", "ok")  # the real time.sleep
    first, second = github_server.calls("POST", STATUSES)
    assert (first.status, second.status) == (403, 201)
    assert second.at - first.at >= 1.0


def test_server_errors_back_off_exponentially(github_server: GitHubAPIServer) -> None:
    _, sha = github_server.add_pull_request()
    github_server.fail_next(502, times=2, path_prefix=STATUSES)
    github_server.fail_next(503, path_prefix=STATUSES)
    github_server.fail_next(504, path_prefix=STATUSES)
    sleeps: list[float] = []
    make_forge(github_server, sleeps).set_status(sha, "success", "ok")
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert [r.status for r in github_server.calls("POST", STATUSES)] == [502, 502, 503, 504, 201]


def test_server_errors_give_up_after_max_attempts(github_server: GitHubAPIServer) -> None:
    _, sha = github_server.add_pull_request()
    github_server.fail_next(502, times=10, path_prefix=STATUSES)
    sleeps: list[float] = []
    forge = make_forge(github_server, sleeps, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(ForgeError, match="HTTP 502 Server Error: GitHub kept failing"):
        forge.set_status(sha, "success", "ok")
    assert sleeps == [1.0, 2.0]
    assert len(github_server.calls("POST")) == 3


def test_wait_beyond_max_wait_fails_with_the_time_to_retry(github_server: GitHubAPIServer) -> None:
    _, sha = github_server.add_pull_request()
    github_server.secondary_rate_limit_next(retry_after=3600)
    sleeps: list[float] = []
    forge = make_forge(github_server, sleeps, retry=RetryPolicy(max_wait=900))
    with pytest.raises(RateLimited, match=r"asks to wait 3600 s, more than forge max_wait \(900 s\)") as info:
        forge.set_status(sha, "success", "ok")
    assert info.value.wait_s == 3600 and sleeps == []


def test_permission_403_is_not_retried(github_server: GitHubAPIServer) -> None:
    _, sha = github_server.add_pull_request()
    github_server.fail_next(403, message="Resource not accessible by integration", path_prefix=STATUSES)
    sleeps: list[float] = []
    with pytest.raises(ForgeError, match=r"HTTP 403 .*statuses: write"):
        make_forge(github_server, sleeps).set_status(sha, "success", "ok")
    assert sleeps == [] and len(github_server.calls("POST")) == 1


def test_missing_pull_request_is_a_404_error(github_server: GitHubAPIServer) -> None:
    with pytest.raises(ForgeError, match=r"comment on pull request #77 failed: HTTP 404 Not Found"):
        make_forge(github_server).upsert_comment(77, "report", "x")


def test_bad_token_is_reported(github_server: GitHubAPIServer) -> None:
    _, sha = github_server.add_pull_request()
    with pytest.raises(ForgeError, match="HTTP 401 Bad credentials: the token is missing, wrong or expired"):
        make_forge(github_server, token="ghp_wrong").set_status(sha, "success", "ok")


@pytest.mark.parametrize(
    ("status", "headers", "message", "attempt", "expected"),
    [
        (502, {}, "", 1, ("server-error", 1.0)),
        (500, {}, "", 4, ("server-error", 8.0)),
        (504, {}, "", 9, ("server-error", 30.0)),  # capped at max_delay
        (None, None, "connection reset", 2, ("server-error", 2.0)),
        (403, {"Retry-After": "5"}, "", 1, ("retry-after", 5.0)),
        (429, {"retry-after": "2"}, "", 1, ("retry-after", 2.0)),
        (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1010"}, "API rate limit exceeded", 1,
         ("rate-limit-reset", 11.0)),
        (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "990"}, "API rate limit exceeded", 1,
         ("rate-limit-reset", 1.0)),
        (403, {}, "You have exceeded a secondary rate limit", 1, ("secondary-rate-limit", 60.0)),
        (403, {"X-RateLimit-Remaining": "4999"}, "Resource not accessible by integration", 1, None),
        (404, {}, "Not Found", 1, None),
        (422, {}, "Validation Failed", 1, None),
    ],
)
def test_retry_delay_follows_githubs_rules(status, headers, message, attempt, expected) -> None:
    assert retry_delay(status, headers, message, attempt, RetryPolicy(), now=1000.0) == expected


# ----------------------------------------------------------------- pull requests
def test_open_pull_request_is_idempotent(github_server: GitHubAPIServer) -> None:
    forge = make_forge(github_server)
    files = {"datasets_manifest/batches/acme/b-001.yaml": b"batch_id: b-001\n", "labels/b-001.jsonl": b'{"a": 1}\n'}
    first = forge.open_pull_request("labels/acme/b-001", "main", "Label batch b-001", "From acme", files)
    second = forge.open_pull_request("labels/acme/b-001", "main", "Label batch b-001", "From acme", files)

    assert (first.created, second.created) == (True, False)
    assert first.number == second.number == 1
    assert first.url.endswith("/octo-org/alignment-repo/pull/1")
    pulls = github_server.pulls()
    assert [(p["head"]["ref"], p["base"]["ref"], p["title"]) for p in pulls] == [
        ("labels/acme/b-001", "main", "Label batch b-001")
    ]
    for path, content in files.items():
        assert github_server.file_on("labels/acme/b-001", path) == content
    assert github_server.file_on("main", "labels/b-001.jsonl") is None
    assert len(github_server.calls("POST", "/repos/octo-org/alignment-repo/pulls")) == 1
    assert len(github_server.calls("PUT")) == 2  # the rerun found both files unchanged


def test_reopening_with_new_content_updates_the_branch(github_server: GitHubAPIServer) -> None:
    forge = make_forge(github_server)
    forge.open_pull_request("labels/b", "main", "t", "b", {"x.jsonl": b"1\n", "y.jsonl": b"y\n"})
    sha_before = github_server.branch_sha("labels/b")
    again = forge.open_pull_request("labels/b", "main", "t", "b", {"x.jsonl": b"1\n2\n", "y.jsonl": b"y\n"})
    assert again.created is False
    assert github_server.file_on("labels/b", "x.jsonl") == b"1\n2\n"
    assert github_server.branch_sha("labels/b") != sha_before
    puts = github_server.calls("PUT")
    assert [(r.path.rsplit("/", 1)[-1], "sha" in r.body) for r in puts] == [
        ("x.jsonl", False), ("y.jsonl", False), ("x.jsonl", True)
    ]


def test_pull_request_file_paths_are_checked(github_server: GitHubAPIServer) -> None:
    with pytest.raises(ForgeError, match=r"invalid file path '\.\./escape'"):
        make_forge(github_server).open_pull_request("b", "main", "t", "", {"../escape": b"x"})
    assert github_server.requests == []


# ----------------------------------------------------------------- deployments
def test_deployment_and_its_statuses(github_server: GitHubAPIServer) -> None:
    forge = make_forge(github_server)
    dep = forge.create_deployment("main", "canary", {"stage": 1, "traffic_percent": 2.0})
    forge.set_deployment_status(dep, "in_progress", "canary at 2%")
    forge.set_deployment_status(dep, "success", "promoted to 100%")
    [record] = github_server.deployments()
    assert record["id"] == dep
    assert (record["environment"], record["ref"], record["payload"]) == (
        "canary", "main", {"stage": 1, "traffic_percent": 2.0}
    )
    assert record["sha"] == github_server.branch_sha("main")
    assert [s["state"] for s in record["statuses"]] == ["in_progress", "success"]
    assert github_server.calls("POST", "/repos/octo-org/alignment-repo/deployments")[0].body["required_contexts"] == []


def test_status_on_unknown_deployment_names_it(github_server: GitHubAPIServer) -> None:
    with pytest.raises(ForgeError, match="setting deployment 123 to failure failed: HTTP 404"):
        make_forge(github_server).set_deployment_status(123, "failure", "x")


# ----------------------------------------------------------------- check runs and GitHub App auth
def test_check_run_is_skipped_without_app_credentials(github_server: GitHubAPIServer) -> None:
    _, sha = github_server.add_pull_request()
    assert make_forge(github_server).create_check_run(sha, "failure", "Gates failed", "2 failed") is None
    assert github_server.calls("POST", "/repos/octo-org/alignment-repo/check-runs") == []


def test_github_app_installation_token_creates_check_run_and_comments(
    github_server: GitHubAPIServer, app_key: tuple[bytes, bytes]
) -> None:
    private, public = app_key
    github_server.register_app(31337, public, slug="alignment-ci-app", installation_id=4242)
    pr, sha = github_server.add_pull_request()
    forge = make_forge(github_server, token=None, app=AppCredentials(app_id=31337, private_key_pem=private))

    run = forge.create_check_run(sha, "failure", "2 gates failed", "| gate | result |", text="details",
                                 details_url="https://example.test/run")
    c1 = forge.upsert_comment(pr, "report", "one")
    c2 = forge.upsert_comment(pr, "report", "two")

    [check] = github_server.check_runs()
    assert run is not None and run.id == check["id"]
    assert (check["name"], check["head_sha"], check["status"], check["conclusion"]) == (
        "alignment-ci", sha, "completed", "failure"
    )
    assert check["output"]["summary"] == "| gate | result |" and check["output"]["text"] == "details"
    assert c1.id == c2.id
    assert github_server.comments_on(pr)[0]["user"]["login"] == "alignment-ci-app[bot]"
    # The App's JWT was exchanged once for an installation token, found through the repository.
    [exchange] = github_server.calls("POST", "/app/installations/4242/access_tokens")
    claims = jwt.decode(exchange.headers["authorization"].split()[1], public, algorithms=["RS256"])
    assert claims["iss"] == "31337"
    assert claims["exp"] - claims["iat"] <= 600  # GitHub refuses App JWTs valid for more than 10 minutes
    assert len(github_server.calls("GET", "/repos/octo-org/alignment-repo/installation")) == 1


def test_token_and_app_together_split_the_work(github_server: GitHubAPIServer, app_key) -> None:
    private, public = app_key
    github_server.register_app(7, public, slug="gates-app", installation_id=99)
    pr, sha = github_server.add_pull_request()
    forge = make_forge(github_server, app=AppCredentials(app_id=7, private_key_pem=private, installation_id=99))
    forge.upsert_comment(pr, "report", "r")
    forge.create_check_run(sha, "success", "all gates passed", "9 passed")
    assert github_server.comments_on(pr)[0]["user"]["login"] == "alignment-bot"
    assert github_server.check_runs()[0]["app"]["slug"] == "gates-app"
    assert github_server.calls("GET", "/repos/octo-org/alignment-repo/installation") == []


def test_app_jwt_signed_with_the_wrong_key_is_refused(github_server: GitHubAPIServer, app_key) -> None:
    _, public = app_key
    github_server.register_app(7, public)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _, sha = github_server.add_pull_request()
    forge = make_forge(github_server, app=AppCredentials(app_id=7, private_key_pem=other))
    with pytest.raises(ForgeError, match="HTTP 401"):
        forge.create_check_run(sha, "success", "t", "s")


# ----------------------------------------------------------------- choosing the forge, Actions environment
def test_open_forge_reads_the_actions_environment(github_server: GitHubAPIServer, tmp_path: Path) -> None:
    pr, sha = github_server.add_pull_request()
    env = {"GITHUB_TOKEN": github_server.token, "GITHUB_REPOSITORY": github_server.full_name,
           "GITHUB_API_URL": github_server.url, "ALIGNMENT_CI_FORGE": "github"}
    forge = open_forge(ForgeSettings(), tmp_path, environ=env)
    assert isinstance(forge, GitHubForge)
    forge.set_status(sha, "success", "ok")
    assert github_server.statuses_for(sha)[0]["state"] == "success"
    local = open_forge(ForgeSettings(kind="github"), tmp_path, environ={"ALIGNMENT_CI_FORGE": "local"})
    assert isinstance(local, LocalForge) and local.root == tmp_path / ".alignment-ci" / "forge"


def test_github_forge_without_credentials_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ForgeError, match="set GITHUB_TOKEN"):
        open_forge(ForgeSettings(kind="github", repository="o/r"), tmp_path, environ={})
    with pytest.raises(ForgeError, match="is not 'owner/name'"):
        open_forge(ForgeSettings(kind="github"), tmp_path, environ={"GITHUB_TOKEN": "t"})
    with pytest.raises(ForgeError, match="half set"):
        open_forge(ForgeSettings(kind="github", repository="o/r"), tmp_path, environ={"ALIGNMENT_CI_APP_ID": "1"})


def test_actions_context_takes_the_pull_requests_head_sha(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"number": 12, "pull_request": {"number": 12, "head": {"sha": "a" * 40}}}))
    ctx = actions_context({
        "GITHUB_REPOSITORY": "octo-org/alignment-repo", "GITHUB_EVENT_PATH": str(event),
        "GITHUB_EVENT_NAME": "pull_request", "GITHUB_SHA": "b" * 40, "GITHUB_RUN_ID": "555",
        "GITHUB_SERVER_URL": "https://github.com",
    })
    assert (ctx.repository, ctx.pr_number, ctx.head_sha) == ("octo-org/alignment-repo", 12, "a" * 40)
    assert ctx.run_url == "https://github.com/octo-org/alignment-repo/actions/runs/555"
    push = actions_context({"GITHUB_SHA": "c" * 40, "GITHUB_EVENT_NAME": "push"})
    assert (push.pr_number, push.head_sha, push.run_url) == (None, "c" * 40, None)


# ----------------------------------------------------------------- both forges keep the same contract
@pytest.mark.parametrize("kind", ["local", "github"])
def test_both_forges_keep_the_same_contract(kind: str, github_server: GitHubAPIServer, tmp_path: Path) -> None:
    pr, sha = github_server.add_pull_request()
    forge = LocalForge.for_workspace(tmp_path) if kind == "local" else make_forge(github_server)
    refs = [forge.upsert_comment(pr, "report", b) for b in ("a", "b", "b")]
    assert [(r.created, r.changed) for r in refs] == [(True, True), (False, True), (False, False)]
    assert len({r.id for r in refs}) == 1
    assert forge.set_status(sha, "failure", "gate failed")["state"] == "failure"
    p1 = forge.open_pull_request("labels/x", "main", "t", "b", {"a.jsonl": b"1\n"})
    p2 = forge.open_pull_request("labels/x", "main", "t", "b", {"a.jsonl": b"1\n"})
    assert (p1.created, p2.created, p1.number == p2.number) == (True, False, True)
    d1 = forge.create_deployment("main", "canary", {"stage": 1})
    d2 = forge.create_deployment("main", "canary", {"stage": 2})
    assert d1 != d2
    assert forge.set_deployment_status(d2, "success", "done")["state"] == "success"
    with pytest.raises(ForgeError, match="invalid report kind"):
        forge.upsert_comment(pr, "Report -->", "x")
    with pytest.raises(ForgeError, match="invalid deployment state 'done'"):
        forge.set_deployment_status(d2, "done", "x")


def test_app_key_that_is_not_a_pem_key_is_reported(github_server: GitHubAPIServer) -> None:
    _, sha = github_server.add_pull_request()
    forge = make_forge(github_server, app=AppCredentials(app_id=7, private_key_pem=b"not a key"))
    with pytest.raises(ForgeError, match="the GitHub App private key cannot sign a JWT"):
        forge.create_check_run(sha, "success", "t", "s")
    assert github_server.requests == []


def test_app_key_from_a_one_line_secret_is_unescaped(github_server: GitHubAPIServer, app_key, tmp_path: Path) -> None:
    private, public = app_key
    github_server.register_app(11, public, installation_id=5)
    _, sha = github_server.add_pull_request()
    one_line = private.decode().replace("\n", "\\n")
    env = {"GITHUB_TOKEN": github_server.token, "GITHUB_REPOSITORY": github_server.full_name,
           "ALIGNMENT_CI_APP_ID": "11", "ALIGNMENT_CI_APP_PRIVATE_KEY": one_line,
           "ALIGNMENT_CI_APP_INSTALLATION_ID": "5"}
    forge = open_forge(ForgeSettings(kind="github", api_url=github_server.url), tmp_path, environ=env)
    run = forge.create_check_run(sha, "success", "all gates passed", "9 passed")
    assert run is not None and github_server.check_runs()[0]["id"] == run.id
