"""Rater bridge benchmark: the service on loopback (uvicorn, SQLite), as vendors use it.

The bridge runs in its own process (`alignment-ci bridge serve`'s code path) on a fresh
SQLite database, file store and local forge; the clients run in this process.

1. Upload and validate a 100,000-row pairwise batch (JSONL): time from the first byte
   sent to the JSON answer (validation, PII scrub, store, manifest, label health, pull
   request). Anchor: ``validate_file`` alone, in process, on the same file.
2. ``GET /v1/tasks`` from 50 concurrent clients (one rater each, persistent
   connections) for 30 s: throughput and p50/p99 latency. Anchor: ``GET /healthz``
   (authentication-free, one ``SELECT 1``) under the same load. Afterwards every served
   real task must be held by exactly one assignment (none lost, none served twice).
3. Concurrent duplicate pushes: 20 distinct batches, each pushed 5 times at once (100
   concurrent requests). Counted: batch rows, pull requests, stored blobs, lineage
   entries, and answers whose pull request differs from their batch's.

Results, machine and versions go to the "Rater bridge" section of docs/benchmarks.md.

    .venv/bin/python bench/bridge_bench.py [--rows 100000] [--clients 50] [--seconds 30] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from docs_section import replace_section  # bench/ is on sys.path when a benchmark runs

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The bridge in a child process on a free loopback port."""

    def __init__(self, workdir: Path, database_url: str = "sqlite:///bridge.db") -> None:
        self.workdir = workdir
        self.config = workdir / "alignment.yaml"
        self.config.write_text(f"bridge:\n  database_url: {json.dumps(database_url)}\n  gold_rate: 0.1\n", encoding="utf-8")
        if not database_url.startswith("sqlite"):  # a fresh PostgreSQL database: drop the bridge's and queue's tables
            from rater_bridge.db import drop_tables, make_engine

            engine = make_engine(database_url, pool_size=1, max_overflow=0)
            drop_tables(engine)
            engine.dispose()
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        code = "from rater_bridge.cli import app; app()"
        self.log = open(self.workdir / "server.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--config", str(self.config)],
            cwd=self.workdir, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"the bridge did not start; see {self.workdir / 'server.log'}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.log.close()


def _load_config(path: Path):
    from alignment_ci.config import load_config

    return load_config(path)


def add_vendors(server: Server, names: list[str]) -> dict[str, str]:
    from rater_bridge.auth import add_vendor
    from rater_bridge.db import create_tables, make_engine, session_factory
    from rater_bridge.settings import database_url

    engine = make_engine(database_url(_load_config(server.config)))
    create_tables(engine)
    tokens = {}
    with session_factory(engine)() as s:
        for name in names:
            tokens[name] = add_vendor(s, name)[1]
    engine.dispose()
    return tokens


# ----------------------------------------------------------------------------- 1. upload
def bench_upload(server: Server, token: str, rows: int, repeat: int) -> dict:
    from alignment_ci.data.validate import validate_file
    from alignment_ci.jsonl import write_jsonl
    from alignment_ci.synth import make_pairwise_batch

    raters = 5
    results = {"answer_s": [], "validate_s": [], "timings": [], "server_cpu_s": []}
    config = _load_config(server.config)
    with tempfile.TemporaryDirectory() as tmp:  # the anchor warm, as the server is (it warms up before listening)
        small = write_jsonl(make_pairwise_batch(batch_id="warm-up", n_items=40, raters_per_item=3), Path(tmp) / "w.jsonl")
        validate_file(small, config, normalized_out=Path(tmp) / "w.parquet")
    for k in range(repeat):
        batch = f"bench-upload-{k}"
        path = write_jsonl(make_pairwise_batch(batch_id=batch, n_items=rows // raters, raters_per_item=raters, seed=k),
                           server.workdir / f"{batch}.jsonl")
        size = path.stat().st_size
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            report = validate_file(path, config, normalized_out=Path(tmp) / "n.parquet")
            results["validate_s"].append(time.perf_counter() - t)
        assert report.accepted, report.errors[:3]

        def body():
            with open(path, "rb") as fh:
                while block := fh.read(1 << 20):
                    yield block

        cpu = server.cpu_seconds()
        t = time.perf_counter()
        r = httpx.post(f"{server.url}/v1/batches", content=body(), timeout=600,
                       headers={"Authorization": f"Bearer {token}", "Content-Length": str(size)})
        results["answer_s"].append(time.perf_counter() - t)
        results["server_cpu_s"].append(server.cpu_seconds() - cpu)
        results["timings"].append({step: float(ms) / 1000 for step, ms in
                                   (part.split(";dur=") for part in r.headers.get("server-timing", "").split(", ") if part)})
        answer = r.json()
        assert r.status_code == 201 and answer["rows"] == report.rows, (r.status_code, str(answer)[:500])
        results.update(rows=report.rows, bytes=size, warnings=answer["warning_count"], pr=answer["pr"]["number"])
    return results


# ----------------------------------------------------------------------------- 2. tasks
def fill_queue(server: Server, items: int, gold: int) -> float:
    from alignment_ci.monitor import queue as q
    from rater_bridge.db import make_engine
    from rater_bridge.settings import database_url

    engine = make_engine(database_url(_load_config(server.config)))
    t = time.perf_counter()
    batch = 5000
    for start in range(0, items, batch):
        with q.session_scope(engine) as s:
            q.enqueue(s, [{"item_id": f"item-{i}", "prompt": f"Prompt {i}: how do I do thing {i}?",
                           "response_a": f"Answer A to {i}", "response_b": f"Answer B to {i}",
                           "sensitive_category": "violence" if i % 50 == 0 else None}
                          for i in range(start, min(items, start + batch))])
    with q.session_scope(engine) as s:
        q.enqueue(s, [{"item_id": f"gold-{i}", "prompt": f"Gold {i}", "responses": ["good", "bad"], "is_gold": True,
                       "gold_answer": "a"} for i in range(gold)])
    engine.dispose()
    return time.perf_counter() - t


async def _load(url: str, path: str, headers: dict, clients: int, seconds: float, params_of) -> dict:
    latencies: list[float] = []
    statuses: Counter = Counter()
    served: list[list[str]] = []
    stop_at = time.perf_counter() + seconds

    async def client(k: int) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as c:
            while time.perf_counter() < stop_at:
                t = time.perf_counter()
                r = await c.get(path, params=params_of(k))
                latencies.append(time.perf_counter() - t)
                statuses[r.status_code] += 1
                if r.status_code == 200 and path == "/v1/tasks":
                    served.append([task["task_id"] for task in r.json()["tasks"]])

    t0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client(k) for k in range(clients)))
    elapsed, client_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [latencies[0]] * 99
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50_ms": 1000 * q[49], "p99_ms": 1000 * q[98],
            "statuses": dict(statuses), "served": served, "seconds": elapsed,
            "client_cpu_ms": 1000 * client_cpu / max(1, len(latencies))}


def check_tasks(server: Server, served: list[list[str]]) -> dict:
    from sqlalchemy import func, select

    from alignment_ci.monitor import queue as q
    from rater_bridge.db import make_engine
    from rater_bridge.settings import database_url

    engine = make_engine(database_url(_load_config(server.config)))
    with q.session_scope(engine) as s:
        gold = set(s.scalars(select(q.QueueItem.id).where(q.QueueItem.is_gold.is_(True))))
        assigned = Counter(s.scalars(select(q.Assignment.task_id).where(q.Assignment.kind == "task")))
        assigned_items = s.scalar(select(func.count()).select_from(q.QueueItem).where(q.QueueItem.status == "assigned"))
    engine.dispose()
    real = [t for batch in served for t in batch if t not in gold]
    gold_served = sum(1 for batch in served for t in batch if t in gold)
    counts = Counter(real)
    return {
        "real_served": len(real),
        "gold_served": gold_served,
        "duplicated": sum(c - 1 for c in counts.values() if c > 1) + sum(c - 1 for c in assigned.values() if c > 1),
        "lost": sum(1 for t in counts if t not in assigned) + abs(assigned_items - len(counts)),
        "empty_answers": sum(1 for batch in served if not batch),
    }


def next_tasks_cpu(server: Server, calls: int = 20) -> float:
    """CPU milliseconds of one ``next_tasks`` call (n=5) in process, on the benchmark's database,
    for raters of the load phase (so with the same assignment history)."""
    from alignment_ci.monitor import queue as q
    from rater_bridge.db import make_engine
    from rater_bridge.settings import database_url

    engine = make_engine(database_url(_load_config(server.config)))
    t = time.process_time()
    for k in range(calls):
        with q.session_scope(engine) as s:
            q.next_tasks(s, "acme", f"rater-{k:02d}", 5, 0.1)
    engine.dispose()
    return 1000 * (time.process_time() - t) / calls


# ----------------------------------------------------------------------------- 3. duplicates
def bench_duplicates(server: Server, token: str, batches: int, copies: int) -> dict:
    from alignment_ci.forge.local import LocalForge
    from alignment_ci.lineage import LineageLog
    from alignment_ci.store import open_store
    from alignment_ci.synth import make_pairwise_batch

    bodies = {f"dup-{b:02d}": "".join(json.dumps(r) + "\n" for r in make_pairwise_batch(
        batch_id=f"dup-{b:02d}", n_items=40, raters_per_item=3, seed=100 + b)).encode() for b in range(batches)}
    answers: list[tuple[str, int, dict]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(batches * copies)

    def push(batch: str) -> None:
        with httpx.Client(base_url=server.url, timeout=300) as c:
            barrier.wait()
            r = c.post("/v1/batches", content=bodies[batch], headers={"Authorization": f"Bearer {token}"})
        with lock:
            answers.append((batch, r.status_code, r.json()))

    threads = [threading.Thread(target=push, args=(b,)) for b in bodies for _ in range(copies)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t

    from sqlalchemy import select

    from rater_bridge.db import Batch, make_engine, session_factory
    from rater_bridge.settings import database_url

    config = _load_config(server.config)
    engine = make_engine(database_url(config))
    with session_factory(engine)() as s:
        rows = [b for b in s.scalars(select(Batch)) if b.batch_id.startswith("dup-")]
    engine.dispose()
    prs = {k: v for k, v in LocalForge.for_workspace(server.workdir).pull_requests().items() if "/dup-" in k}
    store = open_store(config)
    lineage = [e for e in LineageLog(store).entries() if str(e.data.get("batch_id", "")).startswith("dup-")]
    pr_of = {b: {a["pr"]["number"] for bb, code, a in answers if bb == b and a.get("pr")} for b in bodies}
    codes = Counter(code for _, code, _ in answers)
    return {
        "pushes": len(answers), "seconds": elapsed, "codes": dict(sorted(codes.items())),
        "batch_rows": len(rows), "prs": len(prs), "lineage": len(lineage),
        "blobs": len({r.blob_sha256 for r in rows if r.blob_sha256 and store.has_blob(r.blob_sha256)}),
        "lost": sum(1 for b in bodies if not pr_of[b] or f"labels/globex/{b}" not in prs
                    or not any(r.batch_id == b and r.status == "pr_open" for r in rows)),
        "duplicated": sum(len(v) - 1 for v in pr_of.values() if len(v) > 1) + max(0, len(rows) - batches)
        + max(0, len(prs) - batches) + max(0, len(lineage) - batches),
    }


# ----------------------------------------------------------------------------- report
def machine() -> dict:
    import fastapi
    import sqlalchemy
    import uvicorn

    cpu = platform.processor() or ""
    try:
        m = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    import sqlite3

    return {"cpu": cpu, "cores": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "fastapi": fastapi.__version__, "uvicorn": uvicorn.__version__,
            "sqlalchemy": sqlalchemy.__version__, "sqlite": sqlite3.sqlite_version, "httpx": httpx.__version__}


def render(args: argparse.Namespace, info: dict, up: dict, tasks: dict, health: dict, checks: dict, dup: dict,
           fill_s: float, load: tuple[float, float]) -> str:
    best_answer, best_validate = min(up["answer_s"]), min(up["validate_s"])
    db = "the PostgreSQL database of `--database-url`" if args.backend == "PostgreSQL" else "SQLite"
    lines = [
        f"## {section_title(args)}",
        "",
        f"The bridge on loopback: `alignment-ci bridge serve`'s code path (uvicorn, one process) on {db}, the file "
        "store and the local forge; clients in a separate process (`bench/bridge_bench.py`). Anchors run in the same "
        "session on the same data: `validate_file` alone for the upload, `GET /healthz` (no authentication, one "
        "`SELECT 1`) under the same client load for `GET /v1/tasks`.",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['os']}; 1-minute load average {load[0]:.1f} before and "
        f"{load[1]:.1f} after. Versions: Python {info['python']}, FastAPI {info['fastapi']}, uvicorn {info['uvicorn']}, "
        f"SQLAlchemy {info['sqlalchemy']}, SQLite {info['sqlite']}, httpx {info['httpx']}.",
        "",
        f"Command: `.venv/bin/python bench/bridge_bench.py --rows {args.rows} --clients {args.clients} "
        f"--seconds {args.seconds:g} --gold-items {args.gold_items} --repeat {args.repeat}"
        + (" --database-url postgresql://…`" if args.backend == "PostgreSQL" else "`"),
        "",
        "| benchmark | data | anchor | anchor | bridge | bridge / anchor |",
        "| --- | --- | --- | ---: | ---: | ---: |",
        f"| upload + validate, time to answer (best of {len(up['answer_s'])}) | {up['rows']:,} pairwise rows, JSONL, "
        f"{up['bytes'] / 2**20:.0f} MiB | `validate_file` in process | {best_validate:.2f} s | {best_answer:.2f} s | "
        f"{best_answer / best_validate:.2f}x |",
        f"| `GET /v1/tasks?n=5`, throughput | {args.clients} clients x {tasks['seconds']:.0f} s, one rater each | "
        f"`GET /healthz` | {health['rps']:,.0f} req/s | {tasks['rps']:,.0f} req/s | {tasks['rps'] / health['rps']:.2f}x |",
        f"| `GET /v1/tasks?n=5`, p50 latency | same | same | {health['p50_ms']:.1f} ms | {tasks['p50_ms']:.1f} ms | "
        f"{tasks['p50_ms'] / health['p50_ms']:.2f}x |",
        f"| `GET /v1/tasks?n=5`, p99 latency | same | same | {health['p99_ms']:.1f} ms | {tasks['p99_ms']:.1f} ms | "
        f"{tasks['p99_ms'] / health['p99_ms']:.2f}x |",
        f"| `GET /v1/tasks?n=5`, server CPU per request | same | same | {health['cpu_ms']:.1f} ms | {tasks['cpu_ms']:.1f} ms | "
        f"{tasks['cpu_ms'] / health['cpu_ms']:.2f}x |",
        f"| `alignment_ci.monitor.queue.next_tasks` alone (n=5), CPU per call | same database and raters, in process, after the load phase | "
        f"- | - | {tasks['queue_cpu_ms']:.1f} ms | {tasks['queue_cpu_ms'] / tasks['cpu_ms']:.0%} of the request |",
        "",
        *upload_breakdown(up),
        f"- Upload answers, seconds: {', '.join(f'{x:.2f}' for x in up['answer_s'])}; `validate_file`: "
        f"{', '.join(f'{x:.2f}' for x in up['validate_s'])} (after a warm-up call, as the server warms up before "
        f"listening). Server CPU per upload (its own threads): {', '.join(f'{x:.2f}' for x in up['server_cpu_s'])} s. "
        f"The answer includes streaming the body, validation with PII scrubbing ({up['warnings']:,} warnings), the "
        "store write, label health (agreement with a 200-resample bootstrap, rater report) and the local pull request.",
        f"- Tasks: {tasks['requests']:,} requests ({tasks['statuses']}), {checks['real_served']:,} real and "
        f"{checks['gold_served']:,} gold tasks served (gold rate 0.1), {checks['empty_answers']} empty answers; queue "
        f"filled beforehand with {args.queue_items:,} items (1 in 50 sensitive) and {args.gold_items:,} gold items in {fill_s:.0f} s. Served twice: {checks['duplicated']}; served "
        f"without an assignment or assigned without being served (lost): {checks['lost']}. CPU per request: the server "
        f"{tasks['cpu_ms']:.1f} ms (`GET /healthz` {health['cpu_ms']:.1f} ms), of which the queue's `next_tasks` "
        f"{tasks['queue_cpu_ms']:.1f} ms (timed alone after the load phase); the clients (one process, httpx) "
        f"{tasks['client_cpu_ms']:.1f} ms (healthz {health['client_cpu_ms']:.1f} ms). "
        + ("SQLite takes one writer at a time (claims queue on the bridge's write lock)." if args.backend == "SQLite" else
           "Claims take row locks with FOR UPDATE SKIP LOCKED, so concurrent raters skip each other's rows."),
        f"- Concurrent duplicate pushes: {dup['pushes']} pushes ({args.dup_batches} batches x {args.dup_copies} copies, "
        f"all released together) answered in {dup['seconds']:.1f} s with status codes {dup['codes']}: "
        f"{dup['batch_rows']} batch rows, {dup['prs']} pull requests, {dup['blobs']} stored batches, {dup['lineage']} "
        f"lineage entries. Lost: {dup['lost']}; duplicated: {dup['duplicated']}.",
        "",
    ]
    return "\n".join(lines)


STEP_NAMES = {
    "receive": "streaming the body to disk (hashed, size-limited)",
    "validate": "`validate_file`: read, limits scan, checks, PII scrub, normalized Parquet",
    "claim": "batch row (idempotency claim)",
    "store": "store write of the Parquet (fsync)",
    "health": "one narrow read, manifest statistics, label health, rendered summary",
    "forge": "pull request (local forge)",
    "lineage": "lineage entry",
    "mark": "final status row",
}


def upload_breakdown(up: dict) -> list[str]:
    """Where the fastest upload's time went, from its Server-Timing header."""
    best = min(range(len(up["answer_s"])), key=lambda i: up["answer_s"][i])
    steps, answer = up["timings"][best], up["answer_s"][best]
    if not steps:
        return []
    lines = [f"Where the fastest upload's {answer:.2f} s went (the bridge's `Server-Timing` header):", "",
             "| step | seconds | share of the answer |", "| --- | ---: | ---: |"]
    for step, seconds in steps.items():
        lines.append(f"| {step}: {STEP_NAMES.get(step, step)} | {seconds:.3f} | {seconds / answer:.0%} |")
    rest = answer - sum(steps.values())
    lines += [f"| client, HTTP and answer (the rest) | {rest:.3f} | {rest / answer:.0%} |", ""]
    return lines


def section_title(args: argparse.Namespace) -> str:
    return "Rater bridge" if args.backend == "SQLite" else f"Rater bridge on {args.backend}"


def write_section(args: argparse.Namespace, section: str) -> None:
    replace_section(DOC, section_title(args), section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--queue-items", type=int, default=20_000)
    parser.add_argument("--gold-items", type=int, default=200)
    parser.add_argument("--dup-batches", type=int, default=20)
    parser.add_argument("--dup-copies", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing the doc")
    parser.add_argument("--database-url", default="sqlite:///bridge.db",
                        help="the bridge's database (default: a new SQLite file); a postgresql:// URL is emptied first")
    args = parser.parse_args()
    args.backend = "PostgreSQL" if args.database_url.startswith("postgresql") else "SQLite"
    workdir = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    server = Server(workdir, args.database_url)
    tokens = add_vendors(server, ["acme", "globex"])
    fill_s = fill_queue(server, args.queue_items, gold=args.gold_items)
    print(f"queue filled in {fill_s:.0f} s", file=sys.stderr)
    load_before = os.getloadavg()[0]
    server.start()
    try:
        up = bench_upload(server, tokens["acme"], args.rows, args.repeat)
        print(f"upload: {up['answer_s']} (validate {up['validate_s']})", file=sys.stderr)
        auth = {"Authorization": f"Bearer {tokens['acme']}"}
        cpu = server.cpu_seconds()
        health = asyncio.run(_load(server.url, "/healthz", {}, args.clients, min(10.0, args.seconds), lambda k: {}))
        health["cpu_ms"] = 1000 * (server.cpu_seconds() - cpu) / max(1, health["requests"])
        cpu = server.cpu_seconds()
        tasks = asyncio.run(_load(server.url, "/v1/tasks", auth, args.clients, args.seconds,
                                  lambda k: {"rater_id": f"rater-{k:02d}", "n": 5}))
        tasks["cpu_ms"] = 1000 * (server.cpu_seconds() - cpu) / max(1, tasks["requests"])
        print(f"tasks: {tasks['rps']:.0f} req/s p50 {tasks['p50_ms']:.1f} ms p99 {tasks['p99_ms']:.1f} ms; "
              f"healthz {health['rps']:.0f} req/s", file=sys.stderr)
        checks = check_tasks(server, tasks["served"])
        tasks["queue_cpu_ms"] = next_tasks_cpu(server)
        dup = bench_duplicates(server, tokens["globex"], args.dup_batches, args.dup_copies)
        print(f"duplicates: {dup}", file=sys.stderr)
    finally:
        server.stop()
    load_after = os.getloadavg()[0]
    section = render(args, machine(), up, tasks, health, checks, dup, fill_s, (load_before, load_after))
    if args.no_write:
        print(section)
    else:
        write_section(args, section)
        print(section)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
