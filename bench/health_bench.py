"""Whole `alignment-ci quality health` on a 1,000,000-judgment batch: time and peak RSS.

The batch (200,000 pairwise items × 5 raters, planted bad raters, gold items) is written
once as Parquet under bench/.data/. The command runs in a fresh process, as a reviewer's
CI job runs it; its wall time and the child's peak RSS are recorded, next to the time of
pyarrow merely reading the same file (the anchor for scale). Usage:
    .venv/bin/python bench/health_bench.py [--items 200000] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from docs_section import replace_section  # noqa: E402

DATA = ROOT / "bench" / ".data"


def make_batch(path: Path, items: int, raters_per_item: int = 5, seed: int = 0) -> None:
    """A pairwise batch with the demo's planted raters, vectorised (the synth module is row-by-row)."""
    rng = np.random.default_rng(seed)
    raters = np.array([f"r{i:02d}" for i in range(1, 41)])
    roles = np.array(["careful"] * 32 + ["random"] * 3 + ["adversarial"] * 2 + ["position"] * 2 + ["speeder"])
    n = items * raters_per_item
    item = np.repeat(np.arange(items), raters_per_item)
    rater_idx = np.concatenate([rng.choice(len(raters), raters_per_item, replace=False) for _ in range(items)])
    truth = rng.choice(np.array(["a", "b"]), items)[item]
    other = np.where(truth == "a", "b", "a")
    role = roles[rater_idx]
    u = rng.random(n)
    choice = np.where(u < 0.9, truth, np.where(u < 0.93, "skip", other))
    choice = np.where(role == "random", rng.choice(np.array(["a", "b"]), n), choice)
    choice = np.where(role == "adversarial", np.where(u < 0.9, other, truth), choice)
    choice = np.where(role == "position", np.where(u < 0.95, "a", "b"), choice)
    choice = np.where(role == "speeder", rng.choice(np.array(["a", "b"]), n), choice)
    seconds = np.where(role == "speeder", rng.uniform(0.4, 1.5, n), rng.uniform(10, 60, n))
    gold_item = rng.random(items) < 0.1
    is_gold = gold_item[item]
    dims = np.array(["helpfulness", "factual_accuracy"])[item % 2]
    buckets = np.array(["production_failure", "uncertain", "random", "edge"])[rng.choice(4, items, p=[0.4, 0.3, 0.2, 0.1])][item]
    prompt_pool = np.array([f"How do I handle case {k} of the billing workflow without losing data?" for k in range(1000)])
    good = np.array([f"Here is a careful step-by-step answer for case {k}: back up first, then apply the change." for k in range(1000)])
    bad = np.array(["Just try again later.", "Search online.", "It depends."])
    k = item % 1000
    a_good = truth == "a"
    table = pa.table({
        "batch_id": pa.array(np.full(n, "bench-health")),
        "item_id": pa.array(np.char.add("item-", item.astype(str))),
        "rater_id": pa.array(raters[rater_idx]),
        "dimension": pa.array(dims),
        "task_type": pa.array(np.full(n, "pairwise")),
        "prompt": pa.array(prompt_pool[k]),
        "response_a": pa.array(np.where(a_good, good[k], bad[item % 3])),
        "response_b": pa.array(np.where(a_good, bad[item % 3], good[k])),
        "choice": pa.array(choice),
        "is_gold": pa.array(is_gold),
        "gold_choice": pa.array(np.where(is_gold, truth, None).tolist(), pa.string()),
        "time_spent_s": pa.array(seconds),
        "sampling_bucket": pa.array(buckets),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    path = DATA / f"health-{args.items}.parquet"
    if not path.exists():
        make_batch(path, args.items)
    rows = pq.ParquetFile(path).metadata.num_rows
    t0 = time.perf_counter()
    pq.read_table(path)
    read_s = time.perf_counter() - t0
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "alignment_ci.cli", "quality", "health", str(path), "--format", "json"],
                            capture_output=True, text=True, env=env, cwd=str(DATA))
    wall = time.perf_counter() - t0
    rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        return 1
    import json

    health = json.loads(result.stdout)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    section = f"""## Label health

`alignment-ci quality health` on a {rows:,}-judgment pairwise batch ({args.items:,} items × 5 raters out of 40, 8 planted bad raters, 10% gold items), Parquet, in a fresh process: validation, agreement with a 1,000-resample bootstrap per dimension, rater reliability, sampling shares.

Command: `.venv/bin/python bench/health_bench.py --items {args.items}` ({time.strftime('%Y-%m-%d')}). Machine: {cpu}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} when it finished. Versions: Python {platform.python_version()}, pandas {version('pandas')}, pyarrow {version('pyarrow')}, krippendorff {version('krippendorff')}.

| measurement | value |
| --- | ---: |
| wall time of the command (incl. interpreter start) | {wall:.1f} s |
| peak RSS of the command | {rss_mib:,.0f} MiB |
| pyarrow reading the same file (for scale) | {read_s:.2f} s |
| verdict / flagged raters found | {health['verdict']} / {len(health['flagged_raters'])} (8 planted) |

No goal was set for this one; it is recorded so that regressions show.
"""
    print(section)
    if args.write:
        replace_section(args.write, "Label health", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
