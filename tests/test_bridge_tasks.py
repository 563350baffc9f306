"""The rater queue through the bridge: gold mixing, onboarding, sensitive content, releases, isolation."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from alignment_ci.monitor import queue as q
from alignment_ci.monitor.settings import QueueSettings
from rater_bridge.testing import fresh_database_url
from tests.test_bridge import BridgeEnv, make_env

PAYLOAD_KEYS = {"task_id", "phase", "dimension", "task_type", "prompt", "responses", "content_warning", "answer", "explanation",
                "suggestion"}


def _items(n: int, prefix: str = "item", **extra) -> list[dict]:
    return [{"item_id": f"{prefix}-{i}", "prompt": f"prompt {prefix} {i}", "response_a": f"A{i}", "response_b": f"B{i}",
             "dimension": "helpfulness", **extra} for i in range(n)]


def _gold(n: int) -> list[dict]:
    return [{"item_id": f"gold-{i}", "prompt": f"gold prompt {i}", "responses": [f"good {i}", f"bad {i}"],
             "dimension": "helpfulness", "is_gold": True, "gold_answer": "a"} for i in range(n)]


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path: Path):
    url = fresh_database_url(request.param, tmp_path)
    if url is None:
        pytest.skip("set ALIGNMENT_CI_TEST_PG_URL to run the bridge against PostgreSQL")
    e = make_env(tmp_path, url, gold_rate=0.2)
    yield e
    e.client.close()
    e.app.state.bridge.dispose()


def enqueue(env: BridgeEnv, items: list[dict]) -> list[str]:
    with q.session_scope(env.engine) as s:
        return q.enqueue(s, items).ids


def tasks(env: BridgeEnv, vendor: str, rater: str, n: int = 10, **params) -> list[dict]:
    r = env.client.get("/v1/tasks", params={"rater_id": rater, "n": n, **params}, headers=env.auth(vendor))
    assert r.status_code == 200, r.text
    assert r.json()["rater_id"] == rater
    return r.json()["tasks"]


def gold_ids(env: BridgeEnv) -> set[str]:
    with q.session_scope(env.engine) as s:
        return set(s.scalars(select(q.QueueItem.id).where(q.QueueItem.is_gold.is_(True))))


def test_gold_is_mixed_in_at_the_configured_rate_and_looks_like_any_task(env: BridgeEnv) -> None:
    enqueue(env, _items(60) + _gold(20))
    golds = gold_ids(env)
    served = [tasks(env, "acme", "r1", n=10) for _ in range(3)]
    flat = [t for batch in served for t in batch]
    assert [len(b) for b in served] == [10, 10, 10]
    assert sum(t["task_id"] in golds for t in flat) == 6  # floor(0.2 * 30)
    assert len({t["task_id"] for t in flat}) == 30
    shapes = {(frozenset(t), t["phase"], type(t["content_warning"]), len(t["responses"])) for t in flat}
    assert shapes == {(frozenset(PAYLOAD_KEYS), "task", type(None), 2)}
    assert {t["answer"] for t in flat} == {None}  # the gold answer never leaves the server


def test_a_new_rater_is_onboarded_and_calibrated_before_real_tasks(env: BridgeEnv) -> None:
    enqueue(env, _items(10))
    with q.session_scope(env.engine) as s:
        q.add_calibration_items(s, "helpfulness", [{"prompt": "onb", "responses": ["x", "y"], "answer": "a",
                                                    "explanation": "x answers the question"}], phase="onboarding")
        cal = q.add_calibration_items(s, "helpfulness", [{"prompt": f"cal {i}", "responses": ["x", "y"], "answer": "a"}
                                                         for i in range(2)])
    first = tasks(env, "acme", "r1")
    assert sorted(t["phase"] for t in first) == ["calibration", "calibration", "onboarding"]
    assert [t["answer"] for t in first if t["phase"] == "onboarding"] == ["a"]
    assert {t["answer"] for t in first if t["phase"] == "calibration"} == {None}

    wrong = env.client.post("/v1/calibration/helpfulness", json={"rater_id": "r1", "answers": {cal[0]: "b", cal[1]: "b"}},
                            headers=env.auth("acme"))
    assert (wrong.status_code, wrong.json()["passed"], wrong.json()["accuracy"]) == (200, False, 0.0)
    assert {t["phase"] for t in tasks(env, "acme", "r1")} <= {"calibration", "onboarding"}
    right = env.client.post("/v1/calibration/helpfulness", json={"rater_id": "r1", "answers": {cal[0]: "a", cal[1]: "a"}},
                            headers=env.auth("acme"))
    assert (right.json()["passed"], right.json()["attempts"]) == (True, 2)
    assert [t["phase"] for t in tasks(env, "acme", "r1", n=5)] == ["task"] * 5
    # The same rater id at another vendor is another person: onboarding again.
    assert "onboarding" in {t["phase"] for t in tasks(env, "globex", "r1")}


def test_sensitive_content_has_warnings_and_respects_opt_outs_and_the_daily_quota(env: BridgeEnv) -> None:
    enqueue(env, _items(4, "self", sensitive_category="self_harm") + _items(4, "viol", sensitive_category="violence")
            + _items(4, "plain"))
    r = env.client.put("/v1/raters/r1", json={"opt_outs": ["violence"], "daily_sensitive_quota": 2}, headers=env.auth("acme"))
    assert r.json() == {"rater_id": "r1", "opt_outs": ["violence"], "daily_sensitive_quota": 2}
    assert env.client.put("/v1/raters/r1", json={"daily_sensitive_quota": 500}, headers=env.auth("acme")).status_code == 400
    got = tasks(env, "acme", "r1", n=12, gold_rate=0)
    prompts = sorted(t["prompt"].split()[1] for t in got)
    assert prompts == ["plain"] * 4 + ["self"] * 2
    warning = QueueSettings().content_warnings["self_harm"]
    assert sorted((t["prompt"].split()[1], t["content_warning"]) for t in got)[-2:] == [("self", warning)] * 2
    # Another rater of the same vendor without opt-outs sees violence, within the default quota.
    other = tasks(env, "acme", "r2", n=12)
    assert {t["prompt"].split()[1] for t in other} == {"self", "viol"}


def test_only_the_holding_vendor_can_release_or_complete_a_task(env: BridgeEnv) -> None:
    enqueue(env, _items(3))
    mine = tasks(env, "acme", "r1", n=1)[0]["task_id"]
    for path, body in ((f"/v1/tasks/{mine}/release", None), (f"/v1/tasks/{mine}/complete", {"rater_id": "r1", "answer": "a"})):
        r = env.client.post(path, json=body, headers=env.auth("globex"))
        assert r.status_code == 404 and "for this vendor" in r.json()["detail"]
    r = env.client.post(f"/v1/tasks/{mine}/release", headers=env.auth("acme"))
    assert r.json() == {"task_id": mine, "released": True}
    assert env.client.post(f"/v1/tasks/{mine}/release", headers=env.auth("acme")).status_code == 404
    # The released task is claimable again, by another vendor's rater too.
    assert mine in {t["task_id"] for t in tasks(env, "globex", "g1", n=2)}
    other = tasks(env, "acme", "r2", n=1)[0]["task_id"]
    done = env.client.post(f"/v1/tasks/{other}/complete", json={"rater_id": "r2", "answer": "b"}, headers=env.auth("acme"))
    assert done.json() == {"task_id": other, "completed": True}


def test_task_count_is_capped_and_parameters_are_checked(env: BridgeEnv) -> None:
    enqueue(env, _items(120))
    assert len(tasks(env, "acme", "r1", n=10_000, gold_rate=0)) == 100
    assert env.client.get("/v1/tasks", params={"rater_id": "jane@example.com"}, headers=env.auth("acme")).status_code == 400
    assert env.client.get("/v1/tasks", params={"rater_id": "r1", "n": 0}, headers=env.auth("acme")).status_code == 400


def test_rater_preferences_belong_to_their_vendor(env: BridgeEnv) -> None:
    enqueue(env, _items(6, "viol", sensitive_category="violence"))
    put = env.client.put("/v1/raters/r1", json={"opt_outs": ["violence"]}, headers=env.auth("globex"))
    assert put.json() == {"rater_id": "r1", "opt_outs": ["violence"], "daily_sensitive_quota": 20}
    # acme's r1 is someone else: globex's opt-out does not apply to them.
    assert len(tasks(env, "acme", "r1", n=3, gold_rate=0)) == 3
    assert tasks(env, "globex", "r1", n=3, gold_rate=0) == []
    assert len(tasks(env, "globex", "r2", n=3, gold_rate=0)) == 3  # the work was there
