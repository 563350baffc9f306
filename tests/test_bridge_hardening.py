"""The bridge against a careless or hostile vendor (issue 10): ids git refuses, tasks answered by
the wrong rater or with answers that do not fit, oversized bodies. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from alignment_ci.monitor import queue as q
from rater_bridge.testing import fresh_database_url
from tests.test_bridge import BridgeEnv, make_env, pairwise


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path: Path):
    url = fresh_database_url(request.param, tmp_path)
    if url is None:
        pytest.skip("set ALIGNMENT_CI_TEST_PG_URL to run the bridge against PostgreSQL")
    e = make_env(tmp_path, url, gold_rate=0.0)
    yield e
    e.client.close()
    e.app.state.bridge.dispose()


def _store_files(env: BridgeEnv) -> list[Path]:
    root = env.config.resolve(env.config.stores.artifacts.path)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# ------------------------------------------------------------------ finding 7: ids git refuses
@pytest.mark.parametrize("batch_id", ["x.lock", "x."])
def test_a_batch_id_git_refuses_is_rejected_before_anything_is_stored(env: BridgeEnv, batch_id: str) -> None:
    r = env.push("acme", pairwise(batch_id))
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert [(e["kind"], e["line"], e["column"]) for e in errors] == [("invalid_batch_id", 1, "batch_id")]
    assert _store_files(env) == []  # no orphan blob
    assert env.forge.pull_requests() == {}


def test_a_vendor_name_differing_only_in_case_is_refused(env: BridgeEnv) -> None:
    from alignment_ci.errors import InputError
    from rater_bridge.auth import add_vendor

    with env.app.state.bridge.sessions() as s, pytest.raises(InputError, match="regardless of case"):
        add_vendor(s, "ACME")


# ------------------------------------------------------------------ finding 5: who completes what
def _enqueue(env: BridgeEnv, items: list[dict]) -> list[str]:
    with q.session_scope(env.engine) as s:
        return q.enqueue(s, items).ids


def _take(env: BridgeEnv, rater: str, n: int = 1) -> list[dict]:
    r = env.client.get("/v1/tasks", params={"rater_id": rater, "n": n}, headers=env.auth("acme"))
    assert r.status_code == 200, r.text
    return r.json()["tasks"]


def _complete(env: BridgeEnv, task_id: str, body: dict, vendor: str = "acme"):
    return env.client.post(f"/v1/tasks/{task_id}/complete", json=body, headers=env.auth(vendor))


def _items(n: int, **extra) -> list[dict]:
    return [{"item_id": f"i-{i}", "prompt": f"prompt {i}", "response_a": f"A{i}", "response_b": f"B{i}",
             "dimension": "helpfulness", **extra} for i in range(n)]


def test_only_the_assigned_rater_can_complete_a_task(env: BridgeEnv) -> None:
    _enqueue(env, _items(2))
    r1_task = _take(env, "r1")[0]["task_id"]
    _take(env, "r2")  # r2 holds a task of its own: the old lookup fell back to any open assignment
    stolen = _complete(env, r1_task, {"rater_id": "r2", "answer": "a"})
    assert stolen.status_code == 404, stolen.text
    with q.session_scope(env.engine) as s:
        row = s.scalar(select(q.Assignment).where(q.Assignment.task_id == r1_task))
        assert (row.rater_id, row.completed_at, row.answer) == ("r1", None, None)
    assert _complete(env, r1_task, {"rater_id": "r1", "answer": "a"}).json() == {"task_id": r1_task, "completed": True}


@pytest.mark.parametrize(("task", "answer", "words"), [
    ({}, {"evil": [1, 2, 3]}, "pairwise answer is one of a, b, tie, skip"),
    ({}, "x" * 200_000, "pairwise answer is one of"),
    ({}, "A", "pairwise answer is one of"),
    ({"task_type": "likert", "response": "R", "response_a": None, "response_b": None}, 9, "integer from 1 to 5"),
    ({"task_type": "likert", "response": "R", "response_a": None, "response_b": None}, True, "integer from 1 to 5"),
    ({"responses": ["x", "y", "z"], "task_type": "ranking", "response_a": None, "response_b": None}, [0, 0, 1],
     "permutation of 0..2"),
])
def test_an_answer_that_does_not_fit_the_task_is_refused(env: BridgeEnv, task: dict, answer, words: str) -> None:
    _enqueue(env, [{**_items(1)[0], **task}])
    task_id = _take(env, "r1")[0]["task_id"]
    r = _complete(env, task_id, {"rater_id": "r1", "answer": answer})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "answer" and words in r.json()["detail"]
    with q.session_scope(env.engine) as s:  # nothing recorded: the task is still open
        assert s.scalar(select(q.Assignment.completed_at).where(q.Assignment.task_id == task_id)) is None


def test_fitting_answers_of_each_task_type_are_recorded(env: BridgeEnv) -> None:
    _enqueue(env, [
        {**_items(1)[0], "item_id": "p"},
        {"item_id": "l", "prompt": "p", "response": "R", "task_type": "likert", "dimension": "helpfulness"},
        {"item_id": "k", "prompt": "p", "responses": ["x", "y", "z"], "task_type": "ranking", "dimension": "helpfulness"},
    ])
    answers = {"pairwise": "tie", "likert": 5, "ranking": [2, 0, 1]}
    for t in _take(env, "r1", n=3):
        r = _complete(env, t["task_id"], {"rater_id": "r1", "answer": answers[t["task_type"]], "rationale": "because"})
        assert r.status_code == 200, r.text
    with q.session_scope(env.engine) as s:
        rows = s.execute(select(q.Assignment.answer, q.Assignment.rationale)).all()
    assert sorted(map(str, (a for a, _ in rows))) == sorted(map(str, answers.values()))
    assert {r for _, r in rows} == {"because"}


def test_rationale_length_and_unknown_body_keys_are_bounded(env: BridgeEnv) -> None:
    _enqueue(env, _items(1))
    task_id = _take(env, "r1")[0]["task_id"]
    long = _complete(env, task_id, {"rater_id": "r1", "answer": "a", "rationale": "w" * 8193})
    assert long.status_code == 422 and long.json()["field"] == "rationale"
    assert "bridge.max_rationale_chars" in long.json()["detail"]
    extra = _complete(env, task_id, {"rater_id": "r1", "answer": "a", "evil": [1, 2, 3]})
    assert extra.status_code == 400 and extra.json()["detail"][0]["loc"] == ["body", "evil"]
    assert _complete(env, task_id, {"rater_id": "r1", "answer": "a"}).status_code == 200


# ------------------------------------------------------------------ build item 2: request limits
def test_a_json_body_over_the_limit_is_refused_naming_the_setting(env: BridgeEnv) -> None:
    _enqueue(env, _items(1))
    task_id = _take(env, "r1")[0]["task_id"]
    huge = {"rater_id": "r1", "answer": "x" * (5 * 1024 * 1024)}  # a 5 MB string
    r = _complete(env, task_id, huge)
    assert r.status_code == 413, r.text
    assert r.json()["setting"] == "bridge.max_request_bytes" and r.json()["limit"] == 1024 * 1024

    def chunks():  # no Content-Length: counted as it streams
        yield b'{"rater_id": "r1", "answer": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    streamed = env.client.post(f"/v1/tasks/{task_id}/complete", content=chunks(),
                               headers={**env.auth("acme"), "Content-Type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["setting"] == "bridge.max_request_bytes"
    with q.session_scope(env.engine) as s:
        assert s.scalar(select(q.Assignment.completed_at).where(q.Assignment.task_id == task_id)) is None


def test_with_a_larger_body_limit_a_5mb_answer_is_refused_as_not_fitting(tmp_path: Path) -> None:
    e = make_env(tmp_path, fresh_database_url("sqlite", tmp_path), gold_rate=0.0)
    e.config.bridge.max_request_bytes = 8 * 1024 * 1024
    _enqueue(e, _items(1))
    task_id = _take(e, "r1")[0]["task_id"]
    r = _complete(e, task_id, {"rater_id": "r1", "answer": "x" * (5 * 1024 * 1024)})
    assert r.status_code == 422 and r.json()["field"] == "answer"
    e.client.close()


def test_a_request_past_the_time_limit_is_answered_naming_the_setting(tmp_path: Path) -> None:
    e = make_env(tmp_path, fresh_database_url("sqlite", tmp_path), gold_rate=0.0)
    e.config.bridge.request_timeout_s = 0.2
    _enqueue(e, _items(1))
    bridge = e.app.state.bridge
    with bridge.write_lock:  # the claim cannot get the (SQLite) write lock: the request outlives its limit
        r = e.client.get("/v1/tasks", params={"rater_id": "r1", "n": 1}, headers=e.auth("acme"))
    assert r.status_code == 422, r.text
    assert r.json()["setting"] == "bridge.request_timeout_s" and r.json()["limit"] == 0.2
    e.client.close()


def test_a_push_still_validating_at_its_deadline_stores_nothing(tmp_path: Path) -> None:
    from rater_bridge.auth import VendorIdentity
    from rater_bridge.batches import push_batch

    e = make_env(tmp_path, fresh_database_url("sqlite", tmp_path))
    upload = tmp_path / "b.jsonl"
    upload.write_bytes(pairwise("late", n_items=6))
    work = tmp_path / "work"
    work.mkdir()
    bridge = e.app.state.bridge
    answer = push_batch(bridge, VendorIdentity(1, "acme"), upload, "0" * 64, upload.stat().st_size, "jsonl", work,
                        deadline=0.0)
    assert answer.status_code == 422 and answer.body["errors"][0]["kind"] == "request_timeout"
    assert "bridge.request_timeout_s" in answer.body["errors"][0]["message"]
    assert _store_files(e) == [] and e.batch_rows() == []
    e.client.close()


# ------------------------------------------------------------------ build item 6: expiry on a schedule
def test_the_bridge_returns_expired_assignments_on_a_schedule(tmp_path: Path) -> None:
    import time

    from fastapi.testclient import TestClient

    e = make_env(tmp_path, fresh_database_url("sqlite", tmp_path), gold_rate=0.0)
    e.config.bridge.assignment_expiry_interval_s = 0.05
    e.config.queue.assignment_ttl_minutes = 1
    _enqueue(e, _items(1))
    task_id = _take(e, "r1")[0]["task_id"]
    with q.session_scope(e.engine) as s:  # assigned two minutes ago: past its TTL
        s.execute(q.update(q.Assignment).values(assigned_at=q.utcnow() - q.timedelta(minutes=2)))
    with TestClient(e.app):  # runs the lifespan: the expiry task starts
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with q.session_scope(e.engine) as s:
                if s.scalar(select(q.QueueItem.status).where(q.QueueItem.id == task_id)) == "released":
                    break
            time.sleep(0.05)
    with q.session_scope(e.engine) as s:
        assert s.scalar(select(q.QueueItem.status).where(q.QueueItem.id == task_id)) == "released"
        assert s.scalar(select(q.Assignment.released_at).where(q.Assignment.task_id == task_id)) is not None
    e.client.close()


def test_a_reader_limit_error_is_answered_with_its_status_and_setting(tmp_path: Path, monkeypatch) -> None:
    """The readers' limit exception (an InputError with setting, limit, line, http_status) maps to
    413/422 in the upload path, naming the setting; nothing is stored."""
    from alignment_ci.errors import InputError
    from rater_bridge import batches as bridge_batches

    class Over(InputError):
        def __init__(self) -> None:
            super().__init__("line 3: nested 20001 deep, deeper than 64 (validation.limits.max_depth)")
            self.setting, self.limit, self.line, self.column, self.http_status = (
                "validation.limits.max_depth", 64, 3, None, 413)

    def refuse(*args, **kwargs):
        raise Over()

    e = make_env(tmp_path, fresh_database_url("sqlite", tmp_path))
    monkeypatch.setattr(bridge_batches, "validate_file", refuse)  # the name the upload path calls
    r = e.push("acme", pairwise("deep"))
    assert r.status_code == 413, r.text
    (error,) = r.json()["errors"]
    assert error["kind"] == "limit_exceeded" and error["line"] == 3
    assert "validation.limits.max_depth" in error["message"]
    assert _store_files(e) == []
    e.client.close()


def test_a_row_nested_20000_deep_is_refused_by_the_bridge_and_nothing_is_stored(tmp_path: Path) -> None:
    """Finding 1 through the bridge: the pyarrow reader never sees the row (it used to segfault the process)."""
    e = make_env(tmp_path, fresh_database_url("sqlite", tmp_path))
    good = pairwise("deep-real").decode().splitlines()
    deep = '{"a":' + "[" * 20000 + "]" * 20000 + "}"
    r = e.push("acme", ("\n".join([good[0], deep, *good[1:]]) + "\n").encode())
    assert r.status_code in (413, 422), r.text
    kinds = {(err["kind"], err["line"]) for err in r.json()["errors"]}
    assert ("limit_exceeded", 2) in kinds, r.text
    assert any("validation.limits.max_depth" in err["message"] for err in r.json()["errors"])
    assert _store_files(e) == []
    assert e.client.get("/healthz").status_code == 200  # the bridge is still up
    e.client.close()
