"""The rater bridge over HTTP: authentication, pushes, idempotency, status, webhooks, logs.

Real components throughout: the FastAPI app on SQLite (and on PostgreSQL when
ALIGNMENT_CI_TEST_PG_URL is set), the file artifact store, the local forge, uvicorn on
loopback for concurrency, and the local GitHub API server for the GitHub forge.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from alignment_ci.config import Config
from alignment_ci.forge import ForgeSettings
from alignment_ci.forge.local import LocalForge
from alignment_ci.lineage import LineageLog
from alignment_ci.store import open_store
from alignment_ci.synth import make_bad_batch_lines, make_pairwise_batch
from rater_bridge.app import create_app
from rater_bridge.auth import add_vendor, hash_token, revoke_tokens
from rater_bridge.batches import mark_batch
from rater_bridge.db import Batch, Token, Vendor, make_engine
from rater_bridge.logs import ACCESS_LOGGER
from rater_bridge.testing import fresh_database_url, serve_in_thread
from tests.github_server import GitHubAPIServer, github_server  # noqa: F401

BATCHES = Path(__file__).parent / "batches"
SECRET_ENV = "ALIGNMENT_CI_LABELSTUDIO_SECRET"
SECRET = "ls-shared-secret"


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def pairwise(batch_id: str = "demo-batch-001", n_items: int = 12, seed: int = 0) -> bytes:
    return jsonl(make_pairwise_batch(batch_id=batch_id, n_items=n_items, raters_per_item=3, seed=seed))


@dataclass
class BridgeEnv:
    config: Config
    root: Path
    app: Any
    client: TestClient
    tokens: dict[str, str]
    engine: Any

    def auth(self, vendor: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[vendor]}"}

    def push(self, vendor: str, body: bytes, fmt: str = "jsonl", **params: str) -> httpx.Response:
        return self.client.post("/v1/batches", params={"format": fmt, **params}, content=body, headers=self.auth(vendor))

    @property
    def forge(self) -> LocalForge:
        return LocalForge.for_workspace(self.root)

    def batch_key(self, vendor: str, batch_id: str) -> str:
        """The upload key of ``vendor``'s batch ``batch_id``."""
        with self.app.state.bridge.read_sessions() as s:
            return s.scalar(select(Batch.upload_key).join(Vendor, Vendor.id == Batch.vendor_id)
                            .where(Vendor.name == vendor, Batch.batch_id == batch_id))

    def batch_rows(self) -> list[Batch]:
        with self.app.state.bridge.sessions() as s:
            return list(s.scalars(select(Batch).order_by(Batch.id)))


def make_env(root: Path, url: str, *, max_upload_bytes: int | None = None, forge: ForgeSettings | None = None,
             environ: dict[str, str] | None = None, gold_rate: float | None = None) -> BridgeEnv:
    config = Config()
    config._root = root
    config.bridge.database_url = url
    if gold_rate is not None:
        config.bridge.gold_rate = gold_rate
    if max_upload_bytes is not None:
        config.bridge.max_upload_bytes = max_upload_bytes
    if forge is not None:
        config.forge = forge
    engine = make_engine(url)
    app = create_app(config, engine=engine, environ={SECRET_ENV: SECRET, **(environ or {})})
    tokens = {}
    with app.state.bridge.sessions() as s:
        for name in ("acme", "globex"):
            tokens[name] = add_vendor(s, name)[1]
    return BridgeEnv(config, root, app, TestClient(app), tokens, engine)


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path: Path):
    url = fresh_database_url(request.param, tmp_path)
    if url is None:
        pytest.skip("set ALIGNMENT_CI_TEST_PG_URL to run the bridge against PostgreSQL")
    e = make_env(tmp_path, url)
    yield e
    e.client.close()
    e.app.state.bridge.dispose()


@pytest.fixture
def sqlite_env(tmp_path: Path):
    e = make_env(tmp_path, fresh_database_url("sqlite", tmp_path))
    yield e
    e.client.close()
    e.app.state.bridge.dispose()


# ------------------------------------------------------------------------------- auth
def test_tokens_are_stored_only_as_their_hash(env: BridgeEnv) -> None:
    token = env.tokens["acme"]
    assert token.startswith("acb_") and len(token) == 47
    with env.app.state.bridge.sessions() as s:
        stored = s.scalars(select(Token.token_hash)).all()
    assert hash_token(token) in stored and token not in stored
    if env.config.bridge.database_url.startswith("sqlite"):
        db_file = Path(env.config.bridge.database_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in db_file.parent.glob("bridge.db*"))
        assert token.encode() not in raw


def test_every_v1_route_refuses_missing_bad_and_revoked_tokens(env: BridgeEnv) -> None:
    routes = [(m.lower(), path) for path, ops in env.app.openapi()["paths"].items() if path.startswith("/v1")
              for m in ops]
    assert len(routes) == 9
    samples = {"{batch_id}": "demo-batch-001", "{task_id}": "ab12", "{dimension}": "helpfulness", "{rater_id}": "r1"}
    with env.app.state.bridge.sessions() as s:
        revoke_tokens(s, "globex")
    for method, path in routes:
        for key, value in samples.items():
            path = path.replace(key, value)
        for headers in ({}, {"Authorization": "Bearer acb_not-a-token"}, env.auth("globex"),
                        {"Authorization": f"Basic {env.tokens['acme']}"}):
            r = env.client.request(method, path, headers=headers, params={"rater_id": "r1"}, json={})
            assert r.status_code == 401, (method, path, headers, r.text)
            assert r.headers["www-authenticate"].startswith("Bearer")


# ------------------------------------------------------------------------------- pushes
def test_accepted_batch_is_stored_and_proposed_as_a_pull_request(env: BridgeEnv) -> None:
    body = pairwise()
    r = env.push("acme", body)
    assert r.status_code == 201, r.text
    answer = r.json()
    assert (answer["batch_id"], answer["accepted"], answer["status"], answer["rows"]) == ("demo-batch-001", True, "pr_open", 36)
    assert answer["errors"] == [] and answer["duplicate"] is False
    prs = env.forge.pull_requests()
    assert list(prs) == ["labels/acme/demo-batch-001"]
    pr = prs["labels/acme/demo-batch-001"]
    assert (pr["number"], pr["base"], pr["url"]) == (answer["pr"]["number"], "main", answer["pr"]["url"])
    assert pr["files"] == ["datasets_manifest/batches/acme/demo-batch-001.yaml"]
    assert "Label health" in pr["body"] and "Krippendorff" in pr["body"]
    manifest = yaml.safe_load((env.root / ".alignment-ci/forge/prs/1/files" / pr["files"][0]).read_text())
    assert (manifest["vendor"], manifest["batch_id"], manifest["rows"], manifest["items"]) == ("acme", "demo-batch-001", 36, 12)
    assert manifest["source"]["sha256"] == hashlib.sha256(body).hexdigest()
    store = open_store(env.config)
    assert manifest["sha256"] == answer["sha256"] and store.has_blob(answer["sha256"])
    assert pq.read_table(io.BytesIO(store.get_blob(answer["sha256"]))).num_rows == 36
    entries = list(LineageLog(store).entries())
    assert [(e.kind, e.subject, e.data["vendor"]) for e in entries] == [("ingest", answer["sha256"], "acme")]
    assert not (env.root / "datasets_manifest").exists()  # the manifest travels on the branch only


def test_push_answer_carries_its_steps_in_server_timing(env: BridgeEnv) -> None:
    r = env.push("acme", pairwise(batch_id="timed-001"))
    assert r.status_code == 201, r.text
    steps = [part.split(";dur=") for part in r.headers["server-timing"].split(", ")]
    names = [name for name, _ in steps]
    assert names == ["receive", "validate", "claim", "store", "health", "forge", "lineage", "mark"]
    assert all(float(ms) >= 0 for _, ms in steps) and float(dict(steps)["validate"]) > 0
    rejected = env.push("acme", jsonl([{"batch_id": "timed-002"}]))
    assert rejected.status_code == 422
    assert [p.split(";")[0] for p in rejected.headers["server-timing"].split(", ")] == ["receive", "validate"]


def test_warm_up_runs_the_push_path_on_the_configured_taxonomy(tmp_path: Path) -> None:
    from rater_bridge.batches import warm_up

    (tmp_path / "alignment.yaml").write_text(
        "taxonomy:\n  default_dimension: tone\n  dimensions:\n"
        + "".join(f"    - name: {d}\n      definition: {d}\n" for d in ("tone", "facts", "safety")),
        encoding="utf-8")
    from alignment_ci.config import load_config

    warm_up(load_config(tmp_path / "alignment.yaml"))  # raises if validation or label health fails


def test_rejected_batch_answers_with_exact_errors_and_writes_nothing(env: BridgeEnv) -> None:
    r = env.push("acme", ("\n".join(make_bad_batch_lines()) + "\n").encode())
    assert r.status_code == 422
    answer = r.json()
    assert answer["accepted"] is False and answer["pr"] is None and answer["sha256"] is None
    assert [(e["line"], e["column"], e["kind"]) for e in answer["errors"]] == [
        (7, "choice", "invalid_value"), (8, "item_id", "duplicate"), (9, "prompt", "empty_prompt"),
        (10, "dimension", "unknown_dimension"), (11, None, "invalid_json")]
    assert not (env.root / ".alignment-ci/store/blobs").exists()
    assert env.forge.pull_requests() == {}
    status = env.client.get("/v1/batches/demo-batch-002", headers=env.auth("acme")).json()
    assert (status["status"], status["pr"], status["error_count"]) == ("rejected", None, 5)


def test_fixed_batch_after_a_rejection_is_accepted_under_the_same_id(env: BridgeEnv) -> None:
    bad = make_pairwise_batch(batch_id="b-1", n_items=4, raters_per_item=2)
    bad[2]["choice"] = "A"
    assert env.push("acme", jsonl(bad)).status_code == 422
    bad[2]["choice"] = "a"
    r = env.push("acme", jsonl(bad))
    assert r.status_code == 201 and r.json()["status"] == "pr_open"
    assert [(b.batch_id, b.status) for b in env.batch_rows()] == [("b-1", "pr_open")]


def test_csv_parquet_and_multipart_uploads(env: BridgeEnv) -> None:
    csv = (BATCHES / "likert_ok.csv").read_bytes()
    r = env.client.post("/v1/batches", params={"format": "csv"}, files={"file": ("likert.csv", csv, "text/csv")},
                        headers=env.auth("acme"))
    assert r.status_code == 201, r.text
    assert (r.json()["batch_id"], r.json()["rows"]) == ("vendor-b-007", 3)
    table = pa.Table.from_pylist(make_pairwise_batch(batch_id="pq-1", n_items=5, raters_per_item=2))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    r = env.push("acme", buf.getvalue(), fmt="parquet")
    assert r.status_code == 201, r.text
    assert (r.json()["batch_id"], r.json()["rows"]) == ("pq-1", 10)
    r = env.push("acme", b"PAR1 but not parquet", fmt="parquet")
    assert r.status_code == 422
    [error] = r.json()["errors"]
    # An unreadable batch file is a rejected batch with an error line (issue 10, finding 8).
    assert error["kind"] == "invalid_parquet" and "/tmp" not in error["message"]


def test_pii_is_scrubbed_in_the_stored_batch(env: BridgeEnv) -> None:
    rows = make_pairwise_batch(batch_id="pii-1", n_items=4, raters_per_item=2)
    rows[0]["prompt"] = "Write to jane.doe@example.com or call +1 415 555 0100 about my order"
    r = env.push("acme", jsonl(rows))
    assert r.status_code == 201
    assert {w["kind"] for w in r.json()["warnings"]} == {"pii"}
    stored = pq.read_table(io.BytesIO(open_store(env.config).get_blob(r.json()["sha256"]))).to_pylist()
    assert stored[0]["prompt"] == "Write to [email redacted] or call [phone redacted] about my order"


def test_same_content_twice_returns_the_same_batch_and_pull_request(env: BridgeEnv) -> None:
    body = pairwise()
    first = env.push("acme", body).json()
    again = env.client.post("/v1/batches", files={"file": ("again.jsonl", body)}, headers=env.auth("acme"))
    assert again.status_code == 200
    second = again.json()
    assert second["duplicate"] is True
    assert {k: v for k, v in second.items() if k != "duplicate"} == {k: v for k, v in first.items() if k != "duplicate"}
    assert len(env.forge.pull_requests()) == 1 and len(env.batch_rows()) == 1


def test_other_content_under_a_taken_batch_id_is_a_conflict(env: BridgeEnv) -> None:
    assert env.push("acme", pairwise(seed=0)).status_code == 201
    r = env.push("acme", pairwise(seed=1))
    assert r.status_code == 409
    assert [(e["column"], e["kind"]) for e in r.json()["errors"]] == [("batch_id", "batch_id_exists")]
    assert len(env.forge.pull_requests()) == 1


def test_concurrent_duplicate_pushes_make_one_batch_and_one_pull_request(env: BridgeEnv) -> None:
    bodies = {"dup-a": pairwise("dup-a", seed=3), "dup-b": pairwise("dup-b", seed=4)}
    answers: list[tuple[str, int, dict]] = []
    lock = threading.Lock()
    with serve_in_thread(env.app) as url:
        barrier = threading.Barrier(8)

        def push(batch: str) -> None:
            with httpx.Client(base_url=url, timeout=60) as client:
                barrier.wait()
                r = client.post("/v1/batches", content=bodies[batch], headers=env.auth("acme"))
            with lock:
                answers.append((batch, r.status_code, r.json()))

        threads = [threading.Thread(target=push, args=(b,)) for b in ["dup-a", "dup-b"] * 4]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for batch in bodies:
        mine = [(code, a) for b, code, a in answers if b == batch]
        assert sorted(code for code, _ in mine) == [200, 200, 200, 201]
        assert len({a["pr"]["number"] for _, a in mine}) == 1
        assert len({a["sha256"] for _, a in mine}) == 1
    assert sorted((b.batch_id, b.status) for b in env.batch_rows()) == [("dup-a", "pr_open"), ("dup-b", "pr_open")]
    assert sorted(env.forge.pull_requests()) == ["labels/acme/dup-a", "labels/acme/dup-b"]
    assert len(list(LineageLog(open_store(env.config)).entries())) == 2


def test_upload_over_the_limit_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    e = make_env(tmp_path, fresh_database_url("sqlite", tmp_path), max_upload_bytes=4000)
    body = pairwise(n_items=10)
    assert len(body) > 4000 > len(pairwise("small", n_items=1))
    assert e.push("acme", body).status_code == 413

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for i in range(0, len(body), 500):
            yield body[i:i + 500]

    r = e.client.post("/v1/batches", content=chunks(), headers=e.auth("acme"))
    assert r.status_code == 413 and "4000 bytes" in r.json()["detail"]
    r = e.client.post("/v1/batches", files={"file": ("b.jsonl", body)}, headers=e.auth("acme"))
    assert r.status_code == 413
    assert e.batch_rows() == [] and e.forge.pull_requests() == {}
    assert e.push("acme", pairwise("small", n_items=1)).status_code == 201


def test_malformed_multipart_is_a_client_error(sqlite_env: BridgeEnv) -> None:
    headers = {**sqlite_env.auth("acme"), "Content-Type": "multipart/form-data; boundary=xyz"}
    r = sqlite_env.client.post("/v1/batches", content=b"--xyz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nhi\r\n--xyz--\r\n",
                               headers=headers)
    assert r.status_code == 400 and "field 'file'" in r.json()["detail"]


# ------------------------------------------------------------------------------- status and isolation
def test_status_follows_the_pull_request(env: BridgeEnv) -> None:
    env.push("acme", pairwise())
    bridge = env.app.state.bridge
    seen = []
    for status in ("gates_failed", "gates_passed", "merged"):
        mark_batch(bridge, "acme", "demo-batch-001", status)
        got = env.client.get("/v1/batches/demo-batch-001", headers=env.auth("acme")).json()
        seen.append((got["status"], got["pr"]["number"]))
    assert seen == [("gates_failed", 1), ("gates_passed", 1), ("merged", 1)]
    with pytest.raises(Exception, match="no published batch"):
        mark_batch(bridge, "globex", "demo-batch-001", "merged")


def test_a_vendor_sees_only_its_own_batches(env: BridgeEnv) -> None:
    body = pairwise()
    assert env.push("acme", body).status_code == 201
    assert env.client.get("/v1/batches/demo-batch-001", headers=env.auth("globex")).status_code == 404
    assert env.client.get("/v1/batches", headers=env.auth("globex")).json() == {"batches": []}
    assert [b["batch_id"] for b in env.client.get("/v1/batches", headers=env.auth("acme")).json()["batches"]] == ["demo-batch-001"]
    # The same file from another vendor is that vendor's own batch, on its own branch.
    r = env.push("globex", body)
    assert (r.status_code, r.json()["duplicate"]) == (201, False)
    assert sorted(env.forge.pull_requests()) == ["labels/acme/demo-batch-001", "labels/globex/demo-batch-001"]


# ------------------------------------------------------------------------------- service
def test_health_and_openapi_are_served_without_a_token(sqlite_env: BridgeEnv) -> None:
    assert sqlite_env.client.get("/healthz").json() == {"status": "ok", "database": "ok", "version": "0.1.0"}
    spec = sqlite_env.client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert set(spec["paths"]["/v1/batches"]["post"]["responses"]) == {"200", "201", "400", "401", "409", "413", "422"}


def test_access_logs_are_structured_and_free_of_pii(sqlite_env: BridgeEnv, caplog: pytest.LogCaptureFixture) -> None:
    rows = make_pairwise_batch(batch_id="log-1", n_items=3, raters_per_item=2)
    rows[0]["prompt"] = "mail jane.doe@example.com"
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        sqlite_env.push("acme", jsonl(rows))
        sqlite_env.client.get("/v1/batches/log-1", params={"q": "jane.doe@example.com"}, headers=sqlite_env.auth("acme"))
        sqlite_env.client.get("/v1/batches/jane.doe@example.com", headers=sqlite_env.auth("acme"))
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == ACCESS_LOGGER]
    assert [(r["method"], r["route"], r["status"], r["vendor"]) for r in records] == [
        ("POST", "/v1/batches", 201, "acme"),
        ("GET", "/v1/batches/{batch_id}", 200, "acme"),
        ("GET", "/v1/batches/{batch_id}", 404, "acme"),
    ]
    text = caplog.text
    assert "jane.doe" not in text and sqlite_env.tokens["acme"] not in text and "127.0.0.1" not in text
    assert all(len(r["request_id"]) == 32 and r["duration_ms"] >= 0 for r in records)


# ------------------------------------------------------------------------------- GitHub forge
def test_github_forge_gets_branch_manifest_and_pull_request(tmp_path: Path, github_server: GitHubAPIServer) -> None:
    forge = ForgeSettings(kind="github", api_url=github_server.url, repository=github_server.full_name, max_attempts=1)
    e = make_env(tmp_path, fresh_database_url("sqlite", tmp_path), forge=forge,
                 environ={"GITHUB_TOKEN": github_server.token})
    github_server.fail_next(502, times=1, path_prefix="/repos/octo-org/alignment-repo/pulls", method="POST")
    body = pairwise("gh-1")
    failed = e.push("acme", body)
    assert failed.status_code == 502 and "push again" in failed.json()["detail"]
    assert [(b.batch_id, b.status) for b in e.batch_rows()] == [("gh-1", "failed")]
    r = e.push("acme", body)  # the retry resumes: branch and file exist, the pull request is created
    assert r.status_code == 201, r.text
    [pull] = github_server.pulls()
    assert (pull["head"]["ref"], pull["base"]["ref"], pull["number"]) == ("labels/acme/gh-1", "main", r.json()["pr"]["number"])
    assert r.json()["pr"]["url"] == pull["html_url"]
    manifest = yaml.safe_load(github_server.file_on("labels/acme/gh-1", "datasets_manifest/batches/acme/gh-1.yaml"))
    assert (manifest["batch_id"], manifest["rows"], manifest["sha256"]) == ("gh-1", 36, r.json()["sha256"])
    assert "Label health" in pull["body"]


def test_counts_in_the_database_match_after_mixed_traffic(env: BridgeEnv) -> None:
    env.push("acme", pairwise("m-1"))
    env.push("acme", pairwise("m-1"))
    env.push("globex", pairwise("m-2", seed=2))
    with env.app.state.bridge.sessions() as s:
        per_vendor = dict(s.execute(select(Batch.vendor_id, func.count()).group_by(Batch.vendor_id)).all())
    assert sorted(per_vendor.values()) == [1, 1]


# ------------------------------------------------------------------------------- tool exports
LABEL_STUDIO_EXPORT = [
    {"id": 1, "data": {"prompt": "How do I reset my router?", "response_a": "Unplug it for 30 s.", "response_b": "No idea."},
     "annotations": [
         {"id": 11, "completed_by": 3, "result": [{"type": "choices", "from_name": "preference", "value": {"choices": ["a"]}}]},
         {"id": 12, "completed_by": 4, "result": [{"type": "pairwise", "value": {"selected": "left"}}]},
         {"id": 13, "completed_by": 5, "was_cancelled": True, "result": []}]},
    {"id": 2, "data": {"prompt": "Say hi", "response_a": "Hi!", "response_b": "Go away."},
     "annotations": [{"id": 21, "completed_by": {"id": 3}, "result": [{"type": "pairwise", "value": {"selected": "right"}}]}]},
]
ARGILLA_EXPORT = [
    {"id": "rec-1", "fields": {"prompt": "Say hi", "response1": "Hi!", "response2": "Go away."}, "status": "completed",
     "responses": {"preference": [{"value": "response1", "user_id": "u1", "status": "submitted"},
                                  {"value": "b", "user_id": "u2", "status": "submitted"},
                                  {"value": "a", "user_id": "u3", "status": "draft"}]}},
]


def test_label_studio_and_argilla_exports_become_batches(env: BridgeEnv) -> None:
    ls = json.dumps(LABEL_STUDIO_EXPORT).encode()
    r = env.push("acme", ls, fmt="labelstudio", batch_id="ls-1", dimension="factual_accuracy")
    assert r.status_code == 201, r.text
    answer = r.json()
    assert (answer["batch_id"], answer["rows"], answer["warning_count"]) == ("ls-1", 4, 0)
    stored = pq.read_table(io.BytesIO(open_store(env.config).get_blob(answer["sha256"]))).to_pylist()
    assert sorted((row["item_id"], row["rater_id"], row["dimension"], row["choice"]) for row in stored) == [
        ("ls-task-1", "ls-3", "factual_accuracy", "a"), ("ls-task-1", "ls-4", "factual_accuracy", "a"),
        ("ls-task-1", "ls-5", "factual_accuracy", "skip"),  # the cancelled annotation
        ("ls-task-2", "ls-3", "factual_accuracy", "b")]
    # The same export under another batch id is another batch; under the same one, the same.
    assert env.push("acme", ls, fmt="labelstudio", batch_id="ls-1", dimension="factual_accuracy").json()["duplicate"] is True
    ar = env.push("acme", json.dumps(ARGILLA_EXPORT).encode(), fmt="argilla", batch_id="ar-1")
    assert (ar.status_code, ar.json()["rows"], ar.json()["pr"]["number"]) == (201, 2, 2)
    missing = env.push("acme", ls, fmt="labelstudio")
    assert missing.status_code == 422
    assert [(e["kind"], "batch_id" in e["message"]) for e in missing.json()["errors"]] == [("unreadable_export", True)]
    bad = env.push("acme", b"{not json", fmt="argilla", batch_id="ar-2")
    assert bad.status_code == 422 and bad.json()["errors"][0]["kind"] == "unreadable_export"
    assert sorted(env.forge.pull_requests()) == ["labels/acme/ar-1", "labels/acme/ls-1"]


def test_a_rejected_tool_export_names_each_errors_source_record(env: BridgeEnv) -> None:
    export = json.loads(json.dumps(LABEL_STUDIO_EXPORT))
    export[1]["data"]["prompt"] = "   "  # task 2's one annotation becomes line 4 of the converted batch
    r = env.push("acme", json.dumps(export).encode(), fmt="labelstudio", batch_id="ls-bad")
    assert r.status_code == 422, r.text
    assert [(e["line"], e["column"], e["source"]) for e in r.json()["errors"]] == [
        (4, "prompt", "Label Studio task 2, annotation 21, rater ls-3")]
    records = json.loads(json.dumps(ARGILLA_EXPORT))
    records[0]["fields"]["prompt"] = ""
    ar = env.push("acme", json.dumps(records).encode(), fmt="argilla", batch_id="ar-bad")
    assert ar.status_code == 422, ar.text
    assert {e["source"] for e in ar.json()["errors"]} == {"Argilla record rec-1, response 1, rater argilla-u1",
                                                          "Argilla record rec-1, response 2, rater argilla-u2"}
    plain = env.push("acme", pairwise("plain-bad")[:-40])  # a JSONL push: its lines are the vendor's own
    assert plain.status_code == 422 and all(e.get("source") is None for e in plain.json()["errors"])


# ------------------------------------------------------------------------------- SLA
def test_vendor_sla_from_pushed_and_merged_batches(env: BridgeEnv) -> None:
    from datetime import timedelta, timezone

    from alignment_ci.monitor.sla import vendor_sla
    from rater_bridge.sla import bridge_sla, sla_records

    first = make_pairwise_batch(batch_id="sla-1", n_items=30, raters_per_item=3, seed=5)
    second = make_pairwise_batch(batch_id="sla-2", n_items=20, raters_per_item=3, seed=6)
    env.push("acme", jsonl(first))
    env.push("acme", jsonl(second))
    env.push("globex", jsonl(first))
    assert env.push("acme", pairwise("sla-bad")[:-40]).status_code == 422  # rejected: not in the SLA
    bridge = env.app.state.bridge
    mark_batch(bridge, "acme", "sla-1", "merged")
    records = sla_records(bridge, "acme")
    assert [(r["batch_id"], r["decisions"], r["accepted_at"] is not None) for r in records] == [
        ("sla-1", 90, True), ("sla-2", 60, False)]
    assert records[0]["rater_seconds"] == pytest.approx(sum(r["time_spent_s"] for r in first))
    assert records[0]["gold_judgments"] == sum(1 for r in first if r.get("is_gold") and r["choice"] != "skip")
    with bridge.read_sessions() as s:
        row = s.scalar(select(Batch).where(Batch.batch_id == "sla-2", Batch.upload_key == env.batch_key("acme", "sla-2")))
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=timezone.utc)
    now = created.astimezone(timezone.utc) + timedelta(hours=5)
    report = bridge_sla(bridge, now=now)
    acme = report["vendors"]["acme"]
    assert (acme["batches"], acme["accepted"], acme["pending"], acme["decisions"]) == (2, 1, 1, 150)
    assert acme["rater_hours"] == round(sum(r["time_spent_s"] for r in first + second) / 3600, 3)
    assert acme["oldest_pending_hours"] == pytest.approx(5, abs=0.01)
    assert report["vendors"]["globex"]["pending"] == 1
    assert report == vendor_sla(sla_records(bridge), now=now)
