"""Run the bridge on loopback with uvicorn in a background thread (tests, benchmarks, demo)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
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


def fresh_database_url(kind: str, directory: Any) -> str | None:
    """A database URL for a test: a new SQLite file under ``directory``, or the PostgreSQL
    database named by env ALIGNMENT_CI_TEST_PG_URL with the bridge's and queue's tables
    dropped (None when that variable is unset: the caller skips)."""
    import os
    from pathlib import Path

    if kind == "sqlite":
        return f"sqlite:///{Path(directory) / 'bridge.db'}"
    url = os.environ.get(PG_URL_ENV)
    if not url:
        return None

    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        drop_tables(engine)
    finally:
        engine.dispose()
    return url
