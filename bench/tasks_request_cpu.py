"""CPU of one ``GET /v1/tasks?n=5`` request, end to end and by part, in one process.

The bridge app (``create_app``) on a fresh database with 20,000 queued items and 200 gold
items; requests go through the whole ASGI stack (middleware, authentication, FastAPI's
threadpool, the queue's claim, response validation and serialization) by
``httpx.ASGITransport``, without sockets, one after another. Measured as process CPU time
per request (``time.process_time``, all threads), best of 3 rounds:

- ``GET /healthz`` through the same stack (the floor: routing, middleware, a ``SELECT 1``);
- the token lookup alone (``vendor_for_token`` in a read session);
- ``next_tasks`` alone (the claim, in its transaction);
- ``GET /v1/tasks?n=5`` (what a rater's client sends).

The in-process client's own CPU is included in both ASGI rows (it is the same for both).

    .venv/bin/python bench/tasks_request_cpu.py [DATABASE_URL]   # default: a new SQLite file
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alignment_ci.config import load_config  # noqa: E402
from alignment_ci.monitor import queue as q  # noqa: E402
from rater_bridge.app import create_app  # noqa: E402
from rater_bridge.auth import add_vendor, vendor_for_token  # noqa: E402
from rater_bridge.db import drop_tables, make_engine  # noqa: E402

ROUNDS, CALLS = 3, 200


def best_ms(fn) -> float:
    fn(0)
    runs = []
    for _ in range(ROUNDS):
        t = time.process_time()
        for i in range(CALLS):
            fn(i)
        runs.append(1000 * (time.process_time() - t) / CALLS)
    return min(runs)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="tasks-cpu-"))
    url = sys.argv[1] if len(sys.argv) > 1 else "sqlite:///bridge.db"
    if url.startswith("postgresql"):
        engine = make_engine(url, pool_size=1, max_overflow=0)
        drop_tables(engine)
        engine.dispose()
    (work / "alignment.yaml").write_text(f'bridge:\n  database_url: "{url}"\n  gold_rate: 0.1\n'
                                         "  assignment_expiry_interval_s: 0\n", encoding="utf-8")
    config = load_config(work / "alignment.yaml")
    app = create_app(config, workspace=work)
    bridge = app.state.bridge
    with bridge.sessions() as s:
        _, token = add_vendor(s, "acme")
    with q.session_scope(bridge.engine) as s:
        q.enqueue(s, [{"item_id": f"item-{i}", "prompt": f"Prompt {i}", "response_a": "A", "response_b": "B",
                       "sensitive_category": "violence" if i % 50 == 0 else None} for i in range(20_000)])
        q.enqueue(s, [{"item_id": f"gold-{i}", "prompt": f"Gold {i}", "responses": ["good", "bad"], "is_gold": True,
                       "gold_answer": "a"} for i in range(200)])

    def auth(_: int) -> None:
        with bridge.read_sessions() as s:
            vendor_for_token(s, token)
            s.commit()

    def claim(i: int) -> None:
        with bridge.write_lock, q.session_scope(bridge.engine) as s:
            q.next_tasks(s, "acme", f"direct-{i % 50}", 5, 0.1, settings=config.queue)

    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bridge")
    headers = {"Authorization": f"Bearer {token}"}

    def get(path: str, params_of) -> callable:
        def call(i: int) -> None:
            r = loop.run_until_complete(client.get(path, params=params_of(i), headers=headers))
            assert r.status_code == 200, r.text
        return call

    results = {
        "GET /healthz (ASGI, in process)": best_ms(get("/healthz", lambda i: {})),
        "token lookup (vendor_for_token)": best_ms(auth),
        "next_tasks alone (n=5)": best_ms(claim),
        "GET /v1/tasks?n=5 (ASGI, in process)": best_ms(get("/v1/tasks", lambda i: {"rater_id": f"rater-{i % 50}", "n": 5})),
    }
    loop.run_until_complete(client.aclose())
    loop.close()
    bridge.dispose()
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"{backend}: CPU ms per call, best of {ROUNDS} x {CALLS}")
    for name, ms in results.items():
        print(f"  {name:40s} {ms:6.2f}")


if __name__ == "__main__":
    main()
