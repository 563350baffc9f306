"""Candidate records and the production baseline in a real file store (no training: run
records as alignment_ci.train.runs writes them)."""

from __future__ import annotations

import pytest

from alignment_ci.candidates import (
    baseline_history,
    candidate_id,
    make_candidate,
    production_baseline,
    record_candidate,
    resolve_candidate,
    set_baseline,
)
from alignment_ci.errors import InputError
from alignment_ci.lineage import LineageLog
from alignment_ci.store.local import FileStore


def run(stage: str, n: int, **parents: dict) -> dict:
    return {"stage": stage, "run_key": f"{n:x}" * 64 if n < 16 else str(n) * 64, "artifact": f"{n + 5:x}" * 64,
            "parents": {k: {"run_key": v["run_key"], "artifact": v["artifact"]} for k, v in parents.items()},
            "snapshot": "s" * 64, "batch_ids": ["b1"], "git_commit": "c" * 40}


@pytest.fixture
def store(tmp_path) -> FileStore:
    return FileStore(tmp_path / "store")


@pytest.fixture
def pipeline_runs() -> list[dict]:
    reward, sft = run("reward", 1), run("sft", 2)
    return [reward, sft, run("dpo", 3, sft=sft)]


def test_a_candidate_names_each_role_and_is_content_addressed(pipeline_runs):
    c = make_candidate(pipeline_runs, ["reward", "sft", "dpo"])
    assert (c["reward_model"], c["reference"], c["policy"]) == ("reward", "sft", "dpo")
    assert c["candidate_id"] == candidate_id(["reward", "sft", "dpo"], {r["stage"]: r["run_key"] for r in pipeline_runs})
    assert make_candidate(list(reversed(pipeline_runs)), ["reward", "sft", "dpo"])["candidate_id"] == c["candidate_id"]
    other = make_candidate([pipeline_runs[0], pipeline_runs[1], run("dpo", 4, sft=pipeline_runs[1])])
    assert other["candidate_id"] != c["candidate_id"]


def test_grpo_pipeline_and_parents_not_listed_are_linked():
    reward, sft = run("reward", 1), run("sft", 2)
    grpo = run("grpo", 3, sft=sft, reward=reward)
    c = make_candidate([grpo])  # only the last stage's record: its parents complete the set
    assert c["pipeline"] == ["reward", "sft", "grpo"]
    assert (c["reward_model"], c["reference"], c["policy"]) == ("reward", "sft", "grpo")
    assert c["runs"]["reward"]["artifact"] == reward["artifact"]


def test_a_reward_run_alone_has_no_policy():
    c = make_candidate([run("reward", 1)])
    assert (c["reward_model"], c["reference"], c["policy"]) == ("reward", None, None)


def test_recording_is_write_once_with_one_lineage_entry(store, pipeline_runs):
    first = record_candidate(store, pipeline_runs, ["reward", "sft", "dpo"])
    again = record_candidate(store, pipeline_runs, ["reward", "sft", "dpo"])
    assert (first["recorded"], again["recorded"]) == (True, False)
    assert again["created_at"] == first["created_at"]
    entries = [e for e in LineageLog(store).entries() if e.kind == "candidate"]
    assert len(entries) == 1
    assert entries[0].subject == first["candidate_id"]
    assert list(entries[0].inputs) == [r["artifact"] for r in pipeline_runs]


def test_any_run_of_a_candidate_resolves_to_it(store, pipeline_runs):
    c = record_candidate(store, pipeline_runs, ["reward", "sft", "dpo"])
    for ref in (c["candidate_id"], c["candidate_id"][:10], pipeline_runs[0]["run_key"], pipeline_runs[2]["run_key"][:12],
                pipeline_runs[1]["artifact"]):
        assert resolve_candidate(store, ref)["candidate_id"] == c["candidate_id"]
    with pytest.raises(InputError, match="no candidate record and no run"):
        resolve_candidate(store, "f" * 64)
    with pytest.raises(InputError, match="at least 8 characters"):
        resolve_candidate(store, "abc")


def test_a_run_in_no_candidate_gives_an_unrecorded_candidate(store):
    sft = run("sft", 2)
    store.put_record("runs", sft["run_key"], sft)
    dpo = run("dpo", 3, sft=sft)
    store.put_record("runs", dpo["run_key"], dpo)
    c = resolve_candidate(store, dpo["run_key"])
    assert c["recorded"] is False
    assert (c["reward_model"], c["reference"], c["policy"]) == (None, "sft", "dpo")


def test_the_baseline_is_the_latest_record_and_keeps_its_history(store, pipeline_runs):
    assert production_baseline(store) is None
    first = record_candidate(store, pipeline_runs[:1])
    second = record_candidate(store, pipeline_runs)
    a = set_baseline(store, first, set_by="manual", reason="first model")
    b = set_baseline(store, second, set_by="rollout", reason="rollout r1 reached 100%", extra={"rollout": "r1"})
    assert (a["seq"], b["seq"], b["previous"]) == (1, 2, first["candidate_id"])
    current = production_baseline(store)
    assert current["candidate_id"] == second["candidate_id"] and current["candidate"]["policy"] == "dpo"
    assert current["rollout"] == "r1"
    assert set_baseline(store, second, set_by="manual", reason="again")["changed"] is False
    assert [h["seq"] for h in baseline_history(store)] == [1, 2]
    kinds = [(e.kind, e.subject) for e in LineageLog(store).entries() if e.kind == "baseline"]
    assert kinds == [("baseline", first["candidate_id"]), ("baseline", second["candidate_id"])]
    with pytest.raises(InputError, match="needs a reason"):
        set_baseline(store, first, set_by="manual", reason=" ")


def test_a_rollout_that_reaches_100_percent_makes_its_candidate_the_baseline(store, pipeline_runs, tmp_path):
    """The rollout controller's hook: the model version rolled out is the policy's artifact;
    the candidate record holding it becomes the production baseline."""
    from alignment_ci.rollout import controller as rc
    from alignment_ci.rollout.plan import RolloutPlan, StageSpec
    from alignment_ci.rollout.routers.file import FileRouter

    old = record_candidate(store, pipeline_runs[:2])
    set_baseline(store, old, set_by="manual", reason="first model")
    new = record_candidate(store, pipeline_runs)
    policy_artifact = new["runs"]["dpo"]["artifact"]
    plan = RolloutPlan(stages=[StageSpec(percent=50, min_events=0, min_minutes=0),
                               StageSpec(percent=100, min_events=0, min_minutes=0)])
    router = FileRouter(tmp_path / "routing.json")
    rc.start(store, "r9", old["runs"]["sft"]["artifact"], policy_artifact, plan, router=router)
    assert production_baseline(store)["candidate_id"] == old["candidate_id"]  # not before it completes
    events = tmp_path / "events.jsonl"
    events.write_text("")
    state = rc.step(store, "r9", events, router=router)
    assert state["status"] == "completed", state
    current = production_baseline(store)
    assert (current["candidate_id"], current["set_by"], current["rollout_id"]) == (new["candidate_id"], "rollout", "r9")
    assert current["reason"] == "rollout r9 reached 100%" and current["previous"] == old["candidate_id"]
