"""Validation benchmark: `validate` against pyarrow merely reading the same file.

Generates a pairwise label batch (1,000,000 rows by default) with realistic text lengths
(prompt 200-400 characters, responses 400-1,200 each), as Parquet and as JSONL, cached
under bench/.data/. Then, each in its own process so peak RSS is per process:

- anchor: ``pyarrow.parquet.read_table`` / ``pyarrow.json.read_json`` of the file;
- validation: ``alignment_ci.data.validate.validate_file`` (what `alignment-ci validate`
  calls).

Goals (issue 2): validation time <= 3x the read time for Parquet and <= 4x for JSONL;
validation peak RSS <= 3x the table's Arrow size. Results, machine and versions go to
the "Validation" section of docs/benchmarks.md.

    .venv/bin/python bench/validate_bench.py [--rows N] [--repeat K] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from docs_section import replace_section  # bench/ is on sys.path when a benchmark runs

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / ".data"
DOC = ROOT / "docs" / "benchmarks.md"
CHUNK = 65536
GOALS = {"parquet": 3.0, "jsonl": 4.0}
RSS_GOAL = 3.0

_WORDS = (
    "the a model answer user question response should would could because however data result "
    "function value please explain example error system policy time first second code python "
    "list table number return call report assistant write summary reason step file change test "
    "important consider option better worse clear safe help request context detail correct "
    "issue problem solution approach method simple quick final output input review"
).split()


def _text_pool(rng: np.random.Generator, n: int, lo: int, hi: int) -> pa.Array:
    """n distinct texts of lo..hi characters made of common words."""
    vocab = np.array(_WORDS + [w.capitalize() for w in _WORDS] + [w + "," for w in _WORDS] + [w + "." for w in _WORDS])
    texts = []
    for length in rng.integers(lo, hi + 1, n):
        words = vocab[rng.integers(0, len(vocab), length // 5 + 8)]
        texts.append(" ".join(words)[:length])
    return pa.array(texts, pa.string())


def _chunk(rng: np.random.Generator, start: int, n: int, pools: dict[str, pa.Array]) -> pa.Table:
    idx = np.arange(start, start + n)
    as_str = lambda a: pa.array(a).cast(pa.string())  # noqa: E731

    def text(name: str, tag: str) -> pa.Array:
        # A unique prefix per row keeps values distinct (no dictionary encoding for free).
        body = pools[name].take(pa.array(rng.integers(0, len(pools[name]), n)))
        return pc.binary_join_element_wise(pc.binary_join_element_wise(tag, as_str(idx), ""), body, ": ")

    prompt = text("prompt", "Q")
    # 0.1 % of prompts carry an e-mail address, 0.1 % start like a formula: realistic warnings.
    pii = rng.random(n) < 0.001
    prompt = pc.if_else(pa.array(pii), pc.binary_join_element_wise(prompt, "write to jane.doe@example.com", " "), prompt)
    formula = rng.random(n) < 0.001
    prompt = pc.if_else(pa.array(formula), pc.binary_join_element_wise("=SUM(A1)", prompt, " "), prompt)
    dims = np.array(["helpfulness", "factual_accuracy", "safety", "style_tone", "instruction_following"])
    is_gold = rng.random(n) < 0.05
    gold = np.array(["a", "b", "tie"])[rng.integers(0, 3, n)].astype(object)
    gold[~is_gold] = None
    stamp = pd.Timestamp("2025-01-01T00:00:00Z") + pd.to_timedelta(idx, unit="s")
    return pa.table({
        "batch_id": pa.array(np.full(n, "vendor-a-2025-01", dtype=object), pa.string()),
        "item_id": pc.binary_join_element_wise("item-", as_str(idx // 3), ""),
        "rater_id": pc.binary_join_element_wise("rater-", as_str((idx % 3) + 3 * ((idx // 3) % 97)), ""),
        "dimension": pa.array(dims[(idx // 3) % len(dims)], pa.string()),
        "task_type": pa.array(np.full(n, "pairwise", dtype=object), pa.string()),
        "prompt": prompt,
        "response_a": text("response", "A"),
        "response_b": text("response", "B"),
        "choice": pa.array(np.array(["a", "b", "tie", "skip"])[rng.choice(4, n, p=[0.45, 0.4, 0.1, 0.05])]),
        "model_a": pa.array(np.where(idx % 2 == 0, "policy-v7", "policy-v8")),
        "model_b": pa.array(np.where(idx % 2 == 0, "policy-v8", "policy-v7")),
        "is_gold": pa.array(is_gold),
        "gold_choice": pa.array(gold, pa.string()),
        "time_spent_s": pa.array(np.round(rng.gamma(4.0, 6.0, n), 2)),
        "labeled_at": pa.array(stamp.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(dtype=object), pa.string()),
    })


def generate(rows: int) -> tuple[Path, Path]:
    DATA.mkdir(parents=True, exist_ok=True)
    parquet, jsonl = DATA / f"pairwise_{rows}.parquet", DATA / f"pairwise_{rows}.jsonl"
    if parquet.exists() and jsonl.exists():
        return parquet, jsonl
    rng = np.random.default_rng(0)
    pools = {"prompt": _text_pool(rng, 20000, 200, 400), "response": _text_pool(rng, 20000, 400, 1200)}
    tmp_pq, tmp_js = parquet.with_suffix(".parquet.tmp"), jsonl.with_suffix(".jsonl.tmp")
    writer = None
    with open(tmp_js, "w", encoding="utf-8") as js:
        for start in range(0, rows, CHUNK):
            table = _chunk(rng, start, min(CHUNK, rows - start), pools)
            writer = writer or pq.ParquetWriter(tmp_pq, table.schema)
            writer.write_table(table)
            js.write(table.to_pandas().to_json(orient="records", lines=True, force_ascii=False))
            js.write("\n")
    writer.close()
    os.replace(tmp_pq, parquet)
    os.replace(tmp_js, jsonl)
    return parquet, jsonl


_READ = {
    "parquet": "import pyarrow.parquet as pq; t = pq.read_table(PATH)",
    "jsonl": "import pyarrow.json as pj; t = pj.read_json(PATH, read_options=pj.ReadOptions(block_size=32 << 20))",
}
_VALIDATE = (
    "from alignment_ci.config import Config; from alignment_ci.data.validate import validate_file; "
    "r = validate_file(PATH, Config()); "
    "extra = dict(accepted=r.accepted, rows=r.rows, errors=r.error_count, warnings=r.warning_count)"
)
_WRAPPER = """
import json, re, sys, time
t0 = time.perf_counter()
PATH = sys.argv[1]
extra = {{}}
{body}
elapsed = time.perf_counter() - t0
if 't' in dir():
    extra['arrow_bytes'] = t.get_total_buffer_size(); extra['rows'] = t.num_rows
# VmHWM: this process's peak RSS (ru_maxrss would carry the parent's peak across exec).
hwm = int(re.search(r"VmHWM:\\s*(\\d+) kB", open("/proc/self/status").read()).group(1))
print(json.dumps(dict(inner_s=elapsed, maxrss_kib=hwm, **extra)))
"""


def measure(body: str, path: Path) -> dict:
    """Run ``body`` in a fresh interpreter; wall time (with start-up) and its peak RSS."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _WRAPPER.format(body=body), str(path)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    wall = time.perf_counter() - start
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    result["rss_bytes"] = result.pop("maxrss_kib") * 1024
    return result


def _warm(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(64 << 20):
            pass


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        m = re.search(r"model name\s*:\s*(.+)", text)
        cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    import pandera

    return {
        "cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
        "pyarrow": pa.__version__, "pandas": pd.__version__, "pandera": pandera.__version__, "numpy": np.__version__,
    }


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def render(rows: int, results: dict, info: dict, sizes: dict, repeat: int) -> str:
    lines = [
        "## Validation",
        "",
        f"`alignment-ci validate` (`validate_file`) against pyarrow merely reading the same file: a "
        f"{rows:,}-row pairwise batch (prompt 200-400 characters, responses 400-1,200; 0.1 % of "
        "prompts carry an e-mail address, 0.1 % start like a formula), generated by "
        "`bench/validate_bench.py`. Each measurement is a fresh process (wall time includes "
        "interpreter start and imports; `in-process` excludes them); RSS is the process's peak. "
        f"The file is in the page cache for both. Read and validate ran alternately {repeat} times; the table "
        "shows each one's fastest run (all wall times are listed below it).",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM, {info['os']}. "
        f"Versions: Python {info['python']}, pyarrow {info['pyarrow']}, pandas {info['pandas']}, "
        f"pandera {info['pandera']}, numpy {info['numpy']}. The machine is shared: 1-minute load "
        f"average {info['load'][0]:.1f} before and {info['load'][1]:.1f} after the measurements, so single "
        "runs vary widely; the ratios compare runs made alternately under the same conditions.",
        "",
        f"Command: `.venv/bin/python bench/validate_bench.py --rows {rows} --repeat {repeat}`",
        "",
        "| format | file | Arrow table | read (wall / in-process) | read RSS | validate (wall / in-process) | validate RSS | time ratio (wall / in-process) | goal | RSS / Arrow size | goal |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for fmt, r in results.items():
        read, val = r["read"], r["validate"]
        ratio_wall = val["wall_s"] / read["wall_s"]
        ratio_inner = val["inner_s"] / read["inner_s"]
        rss_ratio = val["rss_bytes"] / read["arrow_bytes"]
        goal = GOALS[fmt]
        lines.append(
            f"| {fmt} | {_mib(sizes[fmt])} | {_mib(read['arrow_bytes'])} | {read['wall_s']:.1f} s / {read['inner_s']:.1f} s "
            f"| {_mib(read['rss_bytes'])} | {val['wall_s']:.1f} s / {val['inner_s']:.1f} s | {_mib(val['rss_bytes'])} "
            f"| {ratio_wall:.2f}x / {ratio_inner:.2f}x | <= {goal:.0f}x: {'met' if ratio_wall <= goal else 'missed'} "
            f"| {rss_ratio:.2f}x | <= {RSS_GOAL:.0f}x: {'met' if rss_ratio <= RSS_GOAL else 'missed'} |"
        )
    lines.append("")
    for fmt, r in results.items():
        v = r["validate"]
        walls = ", ".join(f"{x:.1f}" for x in r["all"]["read"]), ", ".join(f"{x:.1f}" for x in r["all"]["validate"])
        lines.append(f"- {fmt}: accepted={v['accepted']}, rows={v['rows']:,}, errors={v['errors']}, "
                     f"warnings={v['warnings']:,}; wall seconds, read: {walls[0]}; validate: {walls[1]}.")
    lines.append("")
    return "\n".join(lines)


def write_section(section: str) -> None:
    replace_section(DOC, "Validation", section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing the doc")
    parser.add_argument("--formats", default="parquet,jsonl")
    parser.add_argument("--repeat", type=int, default=2,
                        help="measure read and validate alternately this many times; keep each one's fastest run")
    args = parser.parse_args()
    t = time.perf_counter()
    parquet, jsonl = generate(args.rows)
    print(f"data ready in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    paths = {"parquet": parquet, "jsonl": jsonl}
    load_before = os.getloadavg()[0]
    results, sizes = {}, {}
    for fmt in args.formats.split(","):
        path = paths[fmt]
        sizes[fmt] = path.stat().st_size
        _warm(path)
        reads, vals = [], []
        for _ in range(args.repeat):
            reads.append(measure(_READ[fmt], path))
            print(f"{fmt} read: {reads[-1]}", file=sys.stderr)
            vals.append(measure(_VALIDATE, path))
            print(f"{fmt} validate: {vals[-1]}", file=sys.stderr)
        results[fmt] = {"read": min(reads, key=lambda r: r["wall_s"]), "validate": min(vals, key=lambda r: r["wall_s"]),
                        "all": {"read": [r["wall_s"] for r in reads], "validate": [v["wall_s"] for v in vals]}}
    info = machine()
    info["load"] = (load_before, os.getloadavg()[0])
    section = render(args.rows, results, info, sizes, args.repeat)
    if args.no_write:
        print(section)
    else:
        write_section(section)
        print(section)


if __name__ == "__main__":
    main()
