"""CPU per ``next_tasks`` call (n=5), in process, on a queue of 50,000 items and 20 raters with
40 requests of history each; the number the rater bridge's ``GET /v1/tasks`` is bound by.

    .venv/bin/python bench/next_tasks_cpu.py [DATABASE_URL]        # default: a new SQLite file

To compare with an older version, run it with that version's package first on PYTHONPATH
(e.g. ``git archive <commit> alignment_ci | tar -x -C /tmp/old`` and ``PYTHONPATH=/tmp/old``).
A postgresql:// database is emptied first.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from alignment_ci.monitor import queue as q


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{Path(tempfile.mkdtemp()) / 'queue.db'}"
    engine = q.make_engine(url)
    if url.startswith("postgresql"):
        q.metadata.drop_all(engine)
    q.create_schema(engine)
    for start in range(0, 50_000, 10_000):
        with q.session_scope(engine) as s:
            q.enqueue(s, [{"item_id": f"item-{i}", "prompt": f"P {i}", "response_a": "a", "response_b": "b",
                           "sensitive_category": "violence" if i % 50 == 0 else None} for i in range(start, start + 10_000)])
    with q.session_scope(engine) as s:
        q.enqueue(s, [{"item_id": f"gold-{i}", "prompt": f"G {i}", "responses": ["g", "b"], "is_gold": True,
                       "gold_answer": "a"} for i in range(200)])
    for r in range(20):
        for _ in range(40):
            with q.session_scope(engine) as s:
                q.next_tasks(s, "acme", f"r{r}", 5, 0.1)
    runs = []
    for _ in range(3):
        t = time.process_time()
        for i in range(40):
            with q.session_scope(engine) as s:
                q.next_tasks(s, "acme", f"r{i % 20}", 5, 0.1)
        runs.append(1000 * (time.process_time() - t) / 40)
    print(f"{q.__file__}: next_tasks CPU ms/request, best of 3 x 40: {min(runs):.1f} ({', '.join(f'{r:.1f}' for r in runs)})")
    engine.dispose()


if __name__ == "__main__":
    main()
