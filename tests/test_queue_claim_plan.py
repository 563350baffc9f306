"""The claim does not scan the queue or the rater's history per request (issue 10, build item 6):
every statement next_tasks sends to SQLite is checked with EXPLAIN QUERY PLAN."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, select

from alignment_ci.monitor import queue as q


def test_next_tasks_walks_indexes_without_sorting_the_queue_or_counting_history(tmp_path: Path) -> None:
    engine = q.make_engine(f"sqlite:///{tmp_path / 'q.db'}")
    q.create_schema(engine)
    with q.session_scope(engine) as s:
        q.enqueue(s, [{"item_id": f"i{i}", "prompt": f"p{i}", "response_a": "a", "response_b": "b",
                       "dimension": "helpfulness" if i % 2 else "harmlessness"} for i in range(400)])
        q.enqueue(s, [{"item_id": f"g{i}", "prompt": f"g{i}", "responses": ["x", "y"], "is_gold": True,
                       "gold_answer": "a"} for i in range(20)])
    for _ in range(5):  # some history
        with q.session_scope(engine) as s:
            q.next_tasks(s, "acme", "r1", 5, 0.1)

    statements: list[tuple[str, tuple]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and not executemany:
            statements.append((statement, parameters))

    with q.session_scope(engine) as s:
        got = q.next_tasks(s, "acme", "r1", 5, 0.1)
    event.remove(engine, "before_cursor_execute", capture)
    assert len(got) == 5
    plans = {}
    with engine.connect() as conn:
        for statement, parameters in statements:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            plans[statement] = " | ".join(r[-1] for r in rows)
    claims = [p for s, p in plans.items() if s.lstrip().startswith("SELECT queue_items.") and "ORDER BY" in s
              and "random()" not in s]
    assert claims and all("ix_queue_items_claim_order" in p and "TEMP B-TREE FOR ORDER BY" not in p for p in claims), claims
    # The gold rate's running counts come from the rater's row, not from counting its assignments.
    history = [s for s in plans if "count(*)" in s.lower() and "queue_assignments" in s and "exposure_date" not in s]
    assert history == []
    scans = {s[:160]: p for s, p in plans.items() if "SCAN queue_items" in p}
    assert not scans, scans
    with q.session_scope(engine) as s:
        rater = s.scalar(select(q.Rater).where(q.Rater.rater_id == "r1"))
        kinds = s.scalars(select(q.Assignment.kind).where(q.Assignment.rater_id == "r1")).all()
        assert (rater.served_total, rater.served_gold) == (len(kinds), kinds.count("gold"))
    engine.dispose()
