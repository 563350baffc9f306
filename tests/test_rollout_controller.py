"""The rollout controller end to end: simulated traffic, the file router, the local store and lineage."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from alignment_ci.errors import ConfigError, InputError
from alignment_ci.lineage import LineageLog
from alignment_ci.rollout import controller as rc
from alignment_ci.jsonl import write_jsonl
from alignment_ci.rollout.events import read_events
from alignment_ci.rollout.plan import MetricSpec, RolloutPlan, StageSpec, parse_plan, plan_from_config
from alignment_ci.rollout.routers.file import FileRouter
from alignment_ci.rollout.simulator import TrafficSimulator, delayed_regression, healthy, regressed
from alignment_ci.store.local import FileStore

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
STEP = timedelta(minutes=5)


class CountingRouter(FileRouter):
    """The real file router, recording the decision seq of every write that reaches the file."""

    def __init__(self, path, written: list[int] | None = None) -> None:
        super().__init__(path)
        self.written = written if written is not None else []

    @property
    def writes(self) -> int:
        return len(self.written)

    def _write(self, table) -> None:
        self.written.append(table["seq"])
        super()._write(table)


class Crash(BaseException):
    """Stands for the process being killed (not an Exception: nothing may catch it)."""


class CrashBeforeApply(CountingRouter):
    def apply(self, table):
        raise Crash()


class CrashAfterApply(CountingRouter):
    def apply(self, table):
        super().apply(table)
        raise Crash()


def small_plan(**kw) -> RolloutPlan:
    stages = kw.pop(
        "stages",
        [
            StageSpec(percent=2, min_events=150, min_minutes=5),
            StageSpec(percent=10, min_events=300, min_minutes=5),
            StageSpec(percent=50, min_events=300, min_minutes=5),
            StageSpec(percent=100, min_events=0, min_minutes=0),
        ],
    )
    return RolloutPlan(stages=stages, **kw)


@pytest.fixture
def env(tmp_path):
    store = FileStore(tmp_path / "store")
    router = CountingRouter(tmp_path / "routing.json")
    return store, router, tmp_path / "events.jsonl"


def drive(store, router, events, scenario, plan, steps=20, rid="r1", seed=1, rate=1500.0, stop_on_pause=False):
    """Start a rollout and step it every 5 minutes of simulated traffic until it ends."""
    sim = TrafficSimulator(scenario, "v1", "v2", events_per_minute=rate, seed=seed)
    now = T0
    state = rc.start(store, rid, "v1", "v2", plan, router=router, now=now)
    for _ in range(steps):
        write_jsonl(sim.emit(now, now + STEP, state["percent"]), events, append=True)
        now += STEP
        state = rc.step(store, rid, events, router=router, now=now)
        if state["status"] in rc.TERMINAL or (stop_on_pause and state["status"] == "paused"):
            break
    return state, now, sim


def test_healthy_candidate_is_promoted_through_every_stage(env):
    store, router, events = env
    state, _, _ = drive(store, router, events, healthy(), small_plan())
    assert state["status"] == "completed"
    promoted = [h for h in state["history"] if h["outcome"] in ("start", "promote")]
    assert [small_plan().stages[h["stage"]].percent for h in promoted] == [2, 10, 50, 100]
    assert json.loads(router.path.read_text())["weights"] == {"v1": 0.0, "v2": 100.0}
    assert router.written == [h["seq"] for h in promoted]  # one write per weight change
    assert state["deployment_state"] == "success"
    # Every decision is in the lineage log, about the candidate, and the log verifies.
    log = LineageLog(store)
    entries = [e for e in log.entries() if e.kind == "rollout"]
    assert [e.data["seq"] for e in entries] == list(range(state["seq"] + 1))
    assert {e.subject for e in entries} == {"v2"} and entries[0].inputs == ("v1",)
    assert log.verify().ok


def test_regressed_candidate_is_rolled_back(env):
    store, router, events = env
    state, _, _ = drive(store, router, events, regressed({"thumbs_down": 2.0}), small_plan())
    assert state["status"] == "rolled_back"
    assert state["stage"] <= 1  # never reached 50%
    assert state["weights"] == {"v1": 100.0, "v2": 0.0}
    assert json.loads(router.path.read_text())["weights"] == {"v1": 100.0, "v2": 0.0}
    assert state["analysis"]["evalue"] >= 20
    assert max(state["analysis"]["metrics"], key=lambda m: state["analysis"]["metrics"][m]["evalue"]) == "thumbs_down_rate"
    assert state["deployment_state"] == "failure"
    # A finished rollout decides nothing more.
    again = rc.step(store, "r1", events, router=router, now=T0 + timedelta(hours=5))
    assert again["outcome"] is None and again["seq"] == state["seq"]


def test_numeric_regression_in_tokens_is_rolled_back(env):
    store, router, events = env
    plan = small_plan(metrics=[MetricSpec(name="tokens_per_response", field="tokens", kind="numeric", margin=0.05, effect=0.2)])
    state, _, _ = drive(store, router, events, regressed({"tokens": 1.5}), plan)
    assert state["status"] == "rolled_back"
    assert "tokens_per_response" in state["decision"]["reasons"][-1]


def test_team_metric_where_higher_is_better_is_rolled_back_when_it_drops(env):
    store, router, events = env
    metric = MetricSpec(name="task_completion", field="task_completed", direction="higher", margin=0.02, effect=0.5)
    # Completion 80% -> 56%: the failure rate goes from 20% to 44%.
    state, _, _ = drive(store, router, events, regressed({"task_completed": 0.7}), small_plan(metrics=[metric]))
    assert state["status"] == "rolled_back"
    stats = state["analysis"]["metrics"]["task_completion"]
    assert stats["candidate"] < 0.65 < 0.75 < stats["baseline"]


def test_delayed_regression_is_caught_after_it_starts(env):
    store, router, events = env
    start = T0 + timedelta(minutes=30)
    stages = [StageSpec(percent=10, min_events=100_000, min_minutes=5), StageSpec(percent=100)]
    state, now, _ = drive(
        store, router, events, delayed_regression(start, {"escalated": 3.0}), small_plan(stages=stages), steps=30
    )
    assert state["status"] == "rolled_back"
    rollback_time = datetime.fromisoformat(state["decision"]["decided_at"])
    assert start < rollback_time <= start + timedelta(minutes=45)
    # Before the regression began, every step continued.
    before = [h for h in state["history"][1:] if T0 + STEP * h["seq"] <= start]
    assert before and all(h["outcome"] == "continue" for h in before)


def test_manual_approval_stage_pauses_until_promote(env):
    store, router, events = env
    stages = [
        StageSpec(percent=2, min_events=150, min_minutes=5),
        StageSpec(percent=10, min_events=150, min_minutes=5, manual_approval=True),
        StageSpec(percent=100, min_events=0, min_minutes=0),
    ]
    state, now, sim = drive(store, router, events, healthy(), small_plan(stages=stages), stop_on_pause=True)
    assert state["status"] == "paused" and state["outcome"] == "inconclusive"
    assert state["percent"] == 2.0
    assert "needs manual approval" in state["decision"]["reasons"][-1]
    # Further steps stay paused at the same weights.
    write_jsonl(sim.emit(now, now + STEP, 2.0), events, append=True)
    state = rc.step(store, "r1", events, router=router, now=now + STEP)
    assert state["status"] == "paused" and state["percent"] == 2.0
    state = rc.promote(store, "r1", router=router, actor="release-manager", now=now + 2 * STEP)
    assert state["status"] == "running" and state["percent"] == 10.0
    assert json.loads(router.path.read_text())["weights"]["v2"] == 10.0
    assert state["decision"]["actor"] == "release-manager"


def test_abort_routes_everything_back_to_the_baseline(env):
    store, router, events = env
    rc.start(store, "r1", "v1", "v2", small_plan(), router=router, now=T0)
    rc.promote(store, "r1", router=router, now=T0 + STEP)
    state = rc.abort(store, "r1", router=router, reason="pager", now=T0 + 2 * STEP)
    assert state["status"] == "aborted"
    assert json.loads(router.path.read_text())["weights"] == {"v1": 100.0, "v2": 0.0}
    assert state["decision"]["reasons"] == ["aborted by human: pager"]
    assert rc.abort(store, "r1", router=router, now=T0 + 3 * STEP)["outcome"] is None
    with pytest.raises(InputError, match="aborted; it cannot be promoted"):
        rc.promote(store, "r1", router=router, now=T0 + 3 * STEP)


@pytest.mark.parametrize("crashing", [CrashBeforeApply, CrashAfterApply])
def test_resume_after_a_crash_applies_each_decision_exactly_once(env, crashing):
    store, router, events = env
    sim = TrafficSimulator(healthy(), "v1", "v2", events_per_minute=1500, seed=4)
    rc.start(store, "r1", "v1", "v2", small_plan(), router=router, now=T0)
    killer = crashing(router.path, router.written)  # same file, same write log; dies in apply
    now = T0
    for _ in range(10):  # step stage 1 until the promotion, whose apply is killed
        write_jsonl(sim.emit(now, now + STEP, 2.0), events, append=True)
        now += STEP
        try:
            rc.step(store, "r1", events, router=killer, now=now)
        except Crash:
            break
    else:
        pytest.fail("the crash did not happen")
    crashed_seq = rc.status(store, "r1", router=router)["seq"]
    assert store.get_record("rollout-done", rc.record_key("r1", crashed_seq)) is None  # the decision is half-done
    expected_before = [0, crashed_seq] if crashing is CrashAfterApply else [0]
    assert router.written == expected_before
    status = rc.status(store, "r1", router=router)
    assert status["stage"] == 1 and status["complete"] is False

    resumed = rc.resume(store, "r1", router=router, now=now + timedelta(seconds=30))
    assert resumed["resumed"] is True and resumed["stage"] == 1 and resumed["percent"] == 10.0
    assert json.loads(router.path.read_text())["weights"]["v2"] == 10.0
    assert router.written == [0, crashed_seq]  # each weight-changing decision written exactly once
    # A second resume, and the next step at the same stage, write nothing again.
    assert rc.resume(store, "r1", router=router, now=now + timedelta(seconds=40))["resumed"] is False
    write_jsonl(sim.emit(now, now + STEP, 10.0), events, append=True)
    state = rc.step(store, "r1", events, router=router, now=now + STEP)
    assert state["stage"] == 1 and state["outcome"] == "continue"
    assert router.written == [0, crashed_seq]
    seqs = [e.data["seq"] for e in LineageLog(store).entries() if e.kind == "rollout"]
    assert seqs == list(range(state["seq"] + 1))  # the lineage has each decision once


def test_unreadable_events_are_failed_checks_and_enough_of_them_roll_back(env, tmp_path):
    store, router, _ = env
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"timestamp": "2025-03-01T12:01:00Z", "model_version": "v1", "request_id": "a"}\n{oops\n')
    rc.start(store, "r1", "v1", "v2", small_plan(max_failed_checks=2), router=router, now=T0)
    first = rc.step(store, "r1", broken, router=router, now=T0 + STEP)
    assert first["outcome"] == "continue" and first["failed_checks"] == 1
    assert "broken.jsonl:2" in first["decision"]["reasons"][0]
    second = rc.step(store, "r1", broken, router=router, now=T0 + 2 * STEP)
    assert second["outcome"] == "rollback" and second["failed_checks"] == 2
    assert "max_failed_checks = 2" in second["decision"]["reasons"][-1]


def test_start_refuses_bad_arguments_and_a_second_start(env):
    store, router, _ = env
    with pytest.raises(InputError, match="two different model versions"):
        rc.start(store, "r1", "v1", "v1", router=router, now=T0)
    with pytest.raises(InputError, match="invalid rollout id"):
        rc.start(store, "../x", "v1", "v2", router=router, now=T0)
    rc.start(store, "r1", "v1", "v2", small_plan(), router=router, now=T0)
    assert rc.start(store, "r1", "v1", "v2", small_plan(), router=router, now=T0)["seq"] == 0  # same start: no-op
    with pytest.raises(InputError, match="already exists"):
        rc.start(store, "r1", "v1", "v3", small_plan(), router=router, now=T0)
    with pytest.raises(InputError, match="no rollout 'nope'"):
        rc.status(store, "nope", router=router)


# ------------------------------------------------------------ plan & events
def test_plan_errors_name_the_key_path():
    with pytest.raises(ConfigError, match=r"rollout.stages: .*ending at 100"):
        parse_plan({"stages": [{"percent": 10}, {"percent": 50}]})
    with pytest.raises(ConfigError, match=r"rollout.metrics.0.direction"):
        parse_plan({"metrics": [{"name": "x", "field": "x", "direction": "up"}]})
    metric = {"name": "task_completion", "field": "task_completed", "direction": "higher", "margin": 0.02, "effect": 0.1}
    plan = parse_plan({"metrics": [metric]})
    assert plan.metrics[0].direction == "higher" and plan.rollback_evalue == pytest.approx(20.0)


def test_plan_accepts_bare_percentages_as_in_the_minimal_config():
    plan = parse_plan({"stages": [5, {"percent": 25, "manual_approval": True}, 100]})
    assert [(s.percent, s.min_events, s.manual_approval) for s in plan.stages] == [(5, 500, False), (25, 500, True), (100, 0, False)]


def test_plan_from_the_minimal_config_section(tmp_path):
    from alignment_ci.config import parse_config

    config = parse_config("rollout:\n  stages: [5, 25, 100]\n", root=tmp_path)
    plan = plan_from_config(config)
    assert [s.percent for s in plan.stages] == [5, 25, 100]
    assert plan.router.path == str(tmp_path / ".alignment-ci/routing.json")


def test_events_reader_reports_file_and_line(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text(
        '{"timestamp": "2025-03-01T12:00:00Z", "model_version": "v1", "request_id": "a", "escalated": true}\n'
        "\n"
        '{"timestamp": "yesterday", "model_version": "v1", "request_id": "b"}\n'
    )
    with pytest.raises(InputError, match=r"e.jsonl:3: timestamp 'yesterday' is not an ISO-8601 time"):
        read_events(path)
    path.write_text('{"timestamp": "2025-03-01T12:00:00Z", "model_version": "v1", "request_id": "a", "escalated": "yes"}\n')
    with pytest.raises(InputError, match=r"e.jsonl:1: field 'escalated' must be true, false or null"):
        read_events(path)
    path.write_text('{"timestamp": "2025-03-01T12:00:00Z", "request_id": "a"}\n')
    with pytest.raises(InputError, match="required field 'model_version'"):
        read_events(path)


def test_events_from_jsonl_parquet_and_the_store_are_deduplicated(tmp_path):
    rows = TrafficSimulator(healthy(), seed=3).emit(T0, T0 + timedelta(minutes=1), 10.0)
    write_jsonl(rows[:600], tmp_path / "a.jsonl")
    frame = pd.DataFrame(rows[400:])
    frame.to_parquet(tmp_path / "b.parquet")
    store = FileStore(tmp_path / "store")
    digest = store.put_blob((tmp_path / "a.jsonl").read_bytes())
    events = read_events([tmp_path / "a.jsonl", tmp_path / "b.parquet", f"store:{digest}"], store=store)
    assert len(events) == len(rows)
    assert events["request_id"].is_unique and events["timestamp"].is_monotonic_increasing
    assert events["thumbs_down"].sum() == sum(r["thumbs"] == "down" for r in rows)
    assert str(events["timestamp"].dt.tz) == "UTC"
