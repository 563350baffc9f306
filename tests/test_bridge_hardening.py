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
