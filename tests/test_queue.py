"""The rater queue on a real SQLite file (and PostgreSQL when ALIGNMENT_CI_TEST_PG_URL is set)."""

from __future__ import annotations

import random
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from alignment_ci.config import parse_config
from alignment_ci.errors import InputError
from alignment_ci.monitor import queue as q
from alignment_ci.monitor.settings import QueueSettings
from rater_bridge.testing import postgres_test_url

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
PAYLOAD_KEYS = {"task_id", "phase", "dimension", "task_type", "prompt", "responses", "content_warning"}


def _items(n: int, dimension: str = "helpfulness", prefix: str = "item", **extra):
    return [
        {"item_id": f"{prefix}-{i}", "prompt": f"prompt {prefix} {i}", "response_a": f"A{i}", "response_b": f"B{i}",
         "dimension": dimension, "priority": float(i), **extra}
        for i in range(n)
    ]


def _gold(n: int, dimension: str = "helpfulness"):
    return [
        {"item_id": f"gold-{i}", "prompt": f"gold prompt {i}", "responses": [f"good {i}", f"bad {i}"],
         "dimension": dimension, "is_gold": True, "gold_answer": "a"}
        for i in range(n)
    ]


def _sqlite_engine(tmp_path: Path):
    engine = q.make_engine(f"sqlite:///{tmp_path / 'queue.db'}")
    q.create_schema(engine)
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        eng = _sqlite_engine(tmp_path)
        yield eng
        eng.dispose()
        return
    url = postgres_test_url()
    if not url:
        pytest.skip("set ALIGNMENT_CI_TEST_PG_URL to a PostgreSQL URL to run the PostgreSQL queue tests")
    admin = q.make_engine(url)
    schema = f"t_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    eng = q.make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    q.create_schema(eng)
    yield eng
    eng.dispose()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def test_open_queue_resolves_relative_sqlite_path_against_config_root(tmp_path):
    config = parse_config("bridge:\n  database_url: sqlite:///state/bridge.db\n", root=tmp_path)
    engine = q.open_queue(config)
    with q.session_scope(engine) as s:
        q.enqueue(s, _items(1))
    assert (tmp_path / "state" / "bridge.db").is_file()
    assert q.database_url(config) == f"sqlite:///{tmp_path / 'state' / 'bridge.db'}"


def test_enqueue_skips_existing_items_and_validates(engine):
    with q.session_scope(engine) as s:
        first = q.enqueue(s, _items(3), now=NOW)
        again = q.enqueue(s, _items(4), now=NOW)
        assert len(first.ids) == 3 and first.skipped == []
        assert len(again.ids) == 1 and again.skipped == ["item-0", "item-1", "item-2"]
        with pytest.raises(InputError, match="item 1 \\(g\\): a gold item needs its gold_answer"):
            q.enqueue(s, [{"item_id": "g", "prompt": "p", "responses": ["a", "b"], "is_gold": True}])
        with pytest.raises(InputError, match="pairwise task has exactly two responses, got 3"):
            q.enqueue(s, [{"prompt": "p", "responses": ["a", "b", "c"], "task_type": "pairwise"}])
        assert q.queue_stats(s)["status"] == {"queued": 4, "assigned": 0, "done": 0, "released": 0}


def test_next_tasks_orders_by_expedited_then_priority_and_hides_server_fields(engine):
    with q.session_scope(engine) as s:
        q.enqueue(s, _items(5), now=NOW)
        q.enqueue(s, [{"item_id": "urgent", "prompt": "urgent prompt", "responses": ["x", "y"], "priority": 0.1,
                       "expedited": True, "bucket": "production_failure", "reason": "policy tag"}], now=NOW)
        tasks = q.next_tasks(s, "acme", "r1", 3, gold_rate=0.0, now=NOW, rng=random.Random(0))
    prompts = sorted(t["prompt"] for t in tasks)
    assert prompts == ["prompt item 3", "prompt item 4", "urgent prompt"]
    for t in tasks:
        assert set(t) == PAYLOAD_KEYS
        assert len(t["task_id"]) == 32 and "item" not in t["task_id"]


def test_gold_is_mixed_at_the_rate_and_indistinguishable(engine):
    with q.session_scope(engine) as s:
        q.enqueue(s, _items(200), now=NOW)
        q.enqueue(s, _gold(40), now=NOW)
    kinds = []
    payloads = []
    rng = random.Random(1)
    for _ in range(100):  # one task per call: the running share keeps gold at 10%
        with q.session_scope(engine) as s:
            got = q.next_tasks(s, "acme", "r1", 1, gold_rate=0.1, now=NOW, rng=rng)
        assert len(got) == 1
        payloads += got
    with q.session_scope(engine) as s:
        kinds = [a.kind for a in s.scalars(select(q.Assignment).order_by(q.Assignment.id))]
    assert kinds.count("gold") == 10 and kinds.count("task") == 90
    gold_positions = [i for i, k in enumerate(kinds) if k == "gold"]
    assert gold_positions == [9, 19, 29, 39, 49, 59, 69, 79, 89, 99]
    # Same keys and value types for gold and real payloads.
    shapes = {tuple(sorted((k, type(v).__name__) for k, v in p.items())) for p in payloads}
    assert len(shapes) == 1
    with q.session_scope(engine) as s:
        batch = q.next_tasks(s, "acme", "r2", 20, gold_rate=0.1, now=NOW, rng=random.Random(2))
        kinds_r2 = [a.kind for a in s.scalars(select(q.Assignment).where(q.Assignment.rater_id == "r2"))]
    assert len(batch) == 20 and kinds_r2.count("gold") == 2


def test_gold_answer_is_checked_server_side(engine):
    with q.session_scope(engine) as s:
        q.enqueue(s, _items(9), now=NOW)
        q.enqueue(s, _gold(1), now=NOW)
        tasks = q.next_tasks(s, "acme", "r1", 10, gold_rate=0.1, now=NOW, rng=random.Random(0))
        gold_ids = set(s.scalars(select(q.QueueItem.id).where(q.QueueItem.is_gold.is_(True))))
        results = [q.complete_task(s, "acme", t["task_id"], rater_id="r1", answer="b") for t in tasks]
    gold_results = [r for r in results if r["task_id"] in gold_ids]
    assert len(gold_results) == 1 and gold_results[0]["kind"] == "gold" and gold_results[0]["gold_correct"] is False
    assert all(r["gold_correct"] is None for r in results if r["task_id"] not in gold_ids)
    with q.session_scope(engine) as s:
        assert q.queue_stats(s)["status"]["done"] == 9


def test_empty_queue_does_not_hand_out_gold_alone(engine):
    with q.session_scope(engine) as s:
        q.enqueue(s, _items(1), now=NOW)
        q.enqueue(s, _gold(10), now=NOW)
        first = q.next_tasks(s, "acme", "r1", 10, gold_rate=0.5, now=NOW)
        second = q.next_tasks(s, "acme", "r1", 10, gold_rate=0.5, now=NOW)
    assert len(first) == 2  # one real task, one gold: the share stays at 50%
    assert second == []


def test_new_rater_gets_onboarding_and_calibration_first(engine):
    with q.session_scope(engine) as s:
        q.enqueue(s, _items(5), now=NOW)
        q.add_calibration_items(s, "helpfulness", [{"prompt": "learn", "responses": ["x", "y"], "answer": "a", "explanation": "x is right"}], phase="onboarding")
        cal_ids = q.add_calibration_items(s, "helpfulness", [
            {"prompt": f"cal {i}", "responses": ["x", "y"], "answer": "a" if i % 2 else "b"} for i in range(4)
        ])
        first = q.next_tasks(s, "acme", "r1", 10, gold_rate=0.0, now=NOW)
        assert [t["phase"] for t in first] == ["onboarding", "calibration", "calibration", "calibration", "calibration"]
        assert first[0]["answer"] == "a" and "answer" not in first[1]
        # While the result is pending, no real tasks of the dimension.
        assert q.next_tasks(s, "acme", "r1", 10, gold_rate=0.0, now=NOW) == []
        wrong = {cid: "a" for cid in cal_ids}  # 2 of 4 right
        failed = q.record_calibration_result(s, "acme", "r1", "helpfulness", wrong, now=NOW)
        assert (failed.passed, failed.accuracy, failed.attempts, failed.status) == (False, 0.5, 1, "failed")
        retry = q.next_tasks(s, "acme", "r1", 10, gold_rate=0.0, now=NOW)
        assert sorted(t["phase"] for t in retry) == ["calibration"] * 4 + ["onboarding"]
        right = {cid: ("a" if i % 2 else "b") for i, cid in enumerate(cal_ids)}
        passed = q.record_calibration_result(s, "acme", "r1", "helpfulness", right, now=NOW)
        assert (passed.passed, passed.accuracy, passed.attempts) == (True, 1.0, 2)
        real = q.next_tasks(s, "acme", "r1", 3, gold_rate=0.0, now=NOW)
        assert [t["phase"] for t in real] == ["task"] * 3
        assert q.calibration_status(s, "acme", "r1") == {"helpfulness": {"status": "passed", "attempts": 2, "accuracy": 1.0}}
        with pytest.raises(InputError, match="answers lack 4 of the 4 calibration items"):
            q.record_calibration_result(s, "acme", "r2", "helpfulness", {}, now=NOW)


def test_opt_outs_warnings_and_daily_sensitive_quota(engine):
    settings = QueueSettings(daily_sensitive_quota=2)
    with q.session_scope(engine) as s:
        q.enqueue(s, _items(3, prefix="plain"), now=NOW)
        q.enqueue(s, _items(4, prefix="harm", sensitive_category="self_harm"), now=NOW)
        q.enqueue(s, _items(4, prefix="violent", sensitive_category="violence"), now=NOW)
        q.register_rater(s, "acme", "r1", opt_outs=["self_harm"])
        tasks = q.next_tasks(s, "acme", "r1", 20, gold_rate=0.0, now=NOW, settings=settings)
    prompts = sorted(t["prompt"] for t in tasks)
    assert not any("harm" in p for p in prompts)
    sensitive = [t for t in tasks if t["content_warning"]]
    assert len(sensitive) == 2 and {t["content_warning"] for t in sensitive} == {"This task contains violent content."}
    assert len(tasks) == 5  # 3 plain + 2 sensitive (the quota)
    with q.session_scope(engine) as s:
        same_day = q.next_tasks(s, "acme", "r1", 20, gold_rate=0.0, now=NOW + timedelta(hours=3), settings=settings)
        next_day = q.next_tasks(s, "acme", "r1", 20, gold_rate=0.0, now=NOW + timedelta(days=1), settings=settings)
    assert same_day == []
    assert len(next_day) == 2 and all(t["content_warning"] for t in next_day)


def test_release_only_by_owner_and_not_back_to_same_rater(engine):
    with q.session_scope(engine) as s:
        q.enqueue(s, _items(1), now=NOW)
        (task,) = q.next_tasks(s, "acme", "r1", 1, gold_rate=0.0, now=NOW)
        with pytest.raises(q.NotTaskOwner, match="not assigned to vendor 'other'"):
            q.release_task(s, "other", task["task_id"])
        assert q.release_task(s, "acme", task["task_id"]) == {"task_id": task["task_id"], "released": True, "rater_id": "r1"}
        with pytest.raises(q.TaskNotFound):
            q.release_task(s, "acme", task["task_id"])
        assert q.next_tasks(s, "acme", "r1", 1, gold_rate=0.0, now=NOW) == []
        again = q.next_tasks(s, "other", "r9", 1, gold_rate=0.0, now=NOW)
        assert [t["task_id"] for t in again] == [task["task_id"]]


def test_copies_never_go_to_the_same_rater_and_expire(engine):
    with q.session_scope(engine) as s:
        q.enqueue(s, _items(2), copies=3, now=NOW)
        mine = q.next_tasks(s, "acme", "r1", 10, gold_rate=0.0, now=NOW)
        assert sorted(t["prompt"] for t in mine) == ["prompt item 0", "prompt item 1"]
        assert q.expire_assignments(s, 60, now=NOW + timedelta(minutes=30)) == 0
        assert q.expire_assignments(s, 60, now=NOW + timedelta(minutes=61)) == 2
        assert q.queue_stats(s)["status"]["released"] == 2


def test_export_queue_filters_and_never_exports_gold_answers(engine):
    with q.session_scope(engine) as s:
        q.enqueue(s, _items(3, bucket="uncertain", reason="margin 0.01"), now=NOW)
        q.enqueue(s, _gold(1), now=NOW)
        rows = q.export_queue(s, bucket="uncertain")
        with_gold = q.export_queue(s, include_gold=True)
    assert [r["item_id"] for r in rows] == ["item-2", "item-1", "item-0"]
    assert set(rows[0]) == set(q.EXPORT_COLUMNS) and rows[0]["reason"] == "margin 0.01"
    assert [r["is_gold"] for r in with_gold].count(True) == 1
    assert all("gold_answer" not in r for r in with_gold)


def test_concurrent_callers_never_get_the_same_task(engine):
    with q.session_scope(engine) as s:
        q.enqueue(s, _items(200), now=NOW)
    got: list[list[str]] = [[] for _ in range(6)]
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for _ in range(8):
                with q.session_scope(engine) as s:
                    got[k] += [t["task_id"] for t in q.next_tasks(s, f"v{k % 2}", f"r{k}", 3, gold_rate=0.0, now=NOW)]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = [i for ids in got for i in ids]
    assert len(ids) == 6 * 8 * 3 and len(set(ids)) == len(ids)
    with q.session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(q.Assignment)) == len(ids)
        assert q.queue_stats(s)["status"]["assigned"] == len(ids)


def test_cli_queue_plan_enqueue_export_and_audit(tmp_path):
    import json

    import typer
    from typer.testing import CliRunner

    from alignment_ci.commands import queue as queue_cmd
    from alignment_ci.config import load_config
    from alignment_ci.data.manifest import ingest_batch
    from alignment_ci.jsonl import write_jsonl
    from alignment_ci.synth import make_pairwise_batch

    cfg_path = tmp_path / "alignment.yaml"
    cfg_path.write_text("bridge:\n  database_url: sqlite:///q.db\n")
    batch = tmp_path / "merged.jsonl"
    write_jsonl(make_pairwise_batch(batch_id="m1", n_items=10, raters_per_item=3, seed=0), batch)
    assert ingest_batch(batch, "acme", load_config(cfg_path)).accepted
    failures = tmp_path / "flagged.jsonl"
    failures.write_text("\n".join(json.dumps({"item_id": f"prod-{i}", "prompt": f"failing {i}", "responses": [f"r{i}"],
                                              "priority": float(i), "expedited": i == 9, "reason": f"thumbs_down x{i}",
                                              "dimension": "helpfulness"}) for i in range(10)) + "\n")
    pool = tmp_path / "pool.jsonl"
    pool.write_text("\n".join(json.dumps({"item_id": f"u{i}", "prompt": "q", "response_a": f"a{i}", "response_b": f"b{i}",
                                          "rm_margin": (i - 5) / 2}) for i in range(10)) + "\n")
    traffic = tmp_path / "events.jsonl"
    traffic.write_text("\n".join(json.dumps({"timestamp": "2025-01-01T00:00:00Z", "model_version": "v1", "request_id": f"t{i}",
                                             "prompt": f"hello {i}", "response": "hi", "cohort": "eu" if i % 2 else "us",
                                             "opted_out": i == 3}) for i in range(8)) + "\n")
    app = typer.Typer()
    app.add_typer(queue_cmd.app, name="queue")
    runner = CliRunner()
    plan_path = tmp_path / "plan.json"
    result = runner.invoke(app, ["queue", "plan", "--budget", "20", "--failures", str(failures), "--pool", str(pool),
                                 "--traffic", str(traffic), "--out", str(plan_path), "--enqueue",
                                 "--config", str(cfg_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    # No edge pool: 20 seats by 0.38 : 0.285 : 0.19 : 0.05 = 8.4, 6.3, 4.2, 1.1 -> 8, 6, 4, 1 and
    # the largest remainder (production failures) takes the last one.
    assert summary["counts"] == {"production_failure": 9, "uncertain": 6, "random": 4, "edge": 0, "audit": 1}
    assert summary["enqueued"] == 20
    plan = json.loads(plan_path.read_text())
    uncertain = [it for it in plan["items"] if it["bucket"] == "uncertain"]
    assert [it["item_id"] for it in uncertain] == ["u5", "u4", "u6", "u3", "u7", "u2"]
    assert all(it["reason"] for it in plan["items"])
    assert not any(it["item_id"] == "traffic-" + __import__("hashlib").sha256(b"t3").hexdigest()[:16] for it in plan["items"])
    exported = tmp_path / "queue.jsonl"
    result = runner.invoke(app, ["queue", "export", "--out", str(exported), "--config", str(cfg_path), "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["items"] == 20
    first = json.loads(exported.read_text().splitlines()[0])
    assert first["item_id"] == "prod-9" and first["expedited"] is True
    # The audit items come back re-reviewed: every original judgment is confirmed.
    audits = [it for it in plan["items"] if it["bucket"] == "audit"]
    review_rows = [{"batch_id": "rev-1", "item_id": it["item_id"], "rater_id": "auditor", "dimension": it["dimension"],
                    "task_type": "pairwise", "prompt": it["prompt"], "response_a": it["responses"][0],
                    "response_b": it["responses"][1], "choice": it["audit_of"]["choice"]} for it in audits]
    write_jsonl(review_rows, tmp_path / "review.jsonl")
    result = runner.invoke(app, ["queue", "audit", str(plan_path), str(tmp_path / "review.jsonl"), "--config", str(cfg_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    rates = json.loads(result.stdout)
    assert rates["audited"] == 1 and rates["error_rate"] == 0.0 and list(rates["vendors"]) == ["acme"]
