"""Run the bridge on loopback with uvicorn in a background thread (tests, benchmarks, demo)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from .db import drop_tables, make_engine


@contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 20.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on ``host`` (a free port when 0); yields the base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                           lifespan="on", timeout_keep_alive=30))
    thread = threading.Thread(target=server.run, name="rater-bridge", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the bridge did not start (see the log above)")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout_s)


PG_URL_ENV = "ALIGNMENT_CI_TEST_PG_URL"
XDIST_WORKER_ENV = "PYTEST_XDIST_WORKER"


def postgres_test_url() -> str | None:
    """The PostgreSQL database this test process may use: the one env
    ALIGNMENT_CI_TEST_PG_URL names, or, under pytest-xdist, a database of the worker's own
    beside it (``<name>_gw0``, ``<name>_gw1``: created on first use), so parallel workers
    never drop each other's tables. None when the variable is unset (the caller skips)."""
    url = os.environ.get(PG_URL_ENV)
    if not url:
        return None
    worker = os.environ.get(XDIST_WORKER_ENV)
    return _worker_database(url, worker) if worker else url


@cache
def _worker_database(url: str, worker: str) -> str:
    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = make_engine(url, pool_size=1, max_overflow=0, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar() is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def fresh_database_url(kind: str, directory: Any) -> str | None:
    """A database URL for a test: a new SQLite file under ``directory``, or this process's
    PostgreSQL database (:func:`postgres_test_url`) with the bridge's and queue's tables
    dropped (None when ALIGNMENT_CI_TEST_PG_URL is unset: the caller skips)."""
    if kind == "sqlite":
        return f"sqlite:///{Path(directory) / 'bridge.db'}"
    url = postgres_test_url()
    if not url:
        return None

    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        drop_tables(engine)
    finally:
        engine.dispose()
    return url
