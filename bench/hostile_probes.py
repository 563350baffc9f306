"""Hostile-input probes (issue 10): time and peak memory of the CLI on each attack file.

Builds each hostile input of issue 10's findings (a JSONL row nested 20,000 deep, a row
with 40,000 keys, a zstd-compressed Parquet bomb, a dictionary-encoded Parquet bomb, a
YAML "billion laughs", deeply nested YAML and Label Studio / Argilla exports) and runs
`alignment-ci validate` / `config show` / `import …` on it in a fresh process, measuring
wall time and the process's peak RSS (``os.wait4``). The anchor is `validate` on a small
valid batch in the same run: the interpreter, imports and a normal answer. Every probe
must answer with the project's clear error (exit 1 for a limit, 2 for a bad config),
never a crash or a traceback. Results go to docs/benchmarks.md, section "Hostile inputs".

    .venv/bin/python bench/hostile_probes.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from docs_section import replace_section  # bench/ is on sys.path when a benchmark runs

ROOT = Path(__file__).resolve().parent.parent
TITLE = "Hostile inputs"


def _row(i: int) -> dict:
    return {"batch_id": "probe", "item_id": f"i{i // 3}", "rater_id": f"r{i % 3}", "task_type": "pairwise",
            "prompt": f"question {i}", "response_a": "first answer", "response_b": "second answer", "choice": "ab"[i % 2]}


def _parquet(path: Path, n: int, prompt, **kwargs) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [_row(i) for i in range(min(n, 3))]
    columns = {k: pa.array([rows[0][k]] * n) for k in rows[0] if k not in ("item_id", "prompt")}
    columns["item_id"] = pa.array([f"i{i}" for i in range(n)])
    columns["prompt"] = prompt
    pq.write_table(pa.table(columns), path, **kwargs)


def build(work: Path) -> list[dict]:
    """The probes: name, the finding, the file, the command, the answer expected."""
    import numpy as np  # here, not at the top: the measuring process stays small
    import pyarrow as pa

    probes = []
    valid = work / "valid.jsonl"
    valid.write_text("".join(json.dumps(_row(i)) + "\n" for i in range(300)))
    probes.append(dict(name="anchor: valid 300-row batch", finding="-", file=valid, args=["validate", str(valid)],
                       expect=0, before="-"))

    probes.append(dict(name="anchor: `config show` with the built-in defaults", finding="-", file=valid,
                       args=["config", "show"], expect=0, before="-"))

    deep = work / "deep.jsonl"
    deep.write_text('{"a":' + "[" * 20000 + "]" * 20000 + "}\n")
    probes.append(dict(name="JSONL row nested 20,000 deep", finding="1", file=deep, args=["validate", str(deep)],
                       expect=1, before="exit 139 (segfault)"))

    keys = work / "keys.jsonl"
    row = _row(0)
    row.update({f"k{j}": j for j in range(40000)})
    keys.write_text(json.dumps(row) + "\n")
    probes.append(dict(name="JSONL row with 40,000 keys", finding="2", file=keys, args=["validate", str(keys)],
                       expect=1, before="> 120 s"))

    keys_ok = work / "keys-allowed.yaml"
    keys_ok.write_text("validation:\n  limits:\n    max_keys_per_row: 50000\n    max_columns: 50000\n")
    probes.append(dict(name="same, limits raised to 50,000 (read, 40,000 warnings)", finding="2", file=keys,
                       args=["validate", str(keys), "-c", str(keys_ok)], expect=0, before="> 120 s"))

    bomb = work / "zstd-bomb.parquet"
    _parquet(bomb, 80, pa.array(["x" * 4_000_000] * 80), compression="zstd", use_dictionary=False)
    probes.append(dict(name="Parquet: 80 prompts of 4 MB, zstd", finding="3", file=bomb, args=["validate", str(bomb)],
                       expect=1, before="accepted, +740 MB"))

    dict_bomb = work / "dictionary-bomb.parquet"
    n = 200_000
    prompt = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array(["y" * (1 << 20)]))
    _parquet(dict_bomb, n, prompt, compression="zstd")
    probes.append(dict(name="Parquet: 200,000 rows sharing one 1 MiB dictionary value", finding="3",
                       file=dict_bomb, args=["validate", str(dict_bomb)], expect=1, before="(not probed)"))

    empty = work / "empty.parquet"
    empty.write_bytes(b"")
    probes.append(dict(name="Parquet: 0 bytes", finding="8", file=empty, args=["validate", str(empty)], expect=1,
                       before="exit 2"))

    laughs = work / "laughs.yaml"
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 7):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    laughs.write_text("\n".join(lines) + "\n")
    probes.append(dict(name="YAML billion laughs, 7 levels", finding="9", file=laughs,
                       args=["config", "show", "-c", str(laughs)], expect=2, before="5.7 s, 1.1 GB"))

    deep_yaml = work / "deep.yaml"
    deep_yaml.write_text("project: " + "[" * 100_000 + "]" * 100_000 + "\n")
    probes.append(dict(name="YAML nested 100,000 deep", finding="9", file=deep_yaml,
                       args=["config", "show", "-c", str(deep_yaml)], expect=2, before="traceback"))

    task = {"id": 1, "data": {"prompt": "p", "response_a": "a", "response_b": "b"},
            "annotations": [{"id": 1, "completed_by": 1, "result": [{"type": "pairwise", "value": {"selected": "left"}}]}]}
    ls = work / "deep-labelstudio.json"
    ls.write_text(json.dumps([task])[:-2] + ', "meta": ' + "[" * 100_000 + "]" * 100_000 + "}]")
    probes.append(dict(name="Label Studio export nested 100,000 deep", finding="4", file=ls,
                       args=["import", "labelstudio", str(ls), "--batch-id", "b", "--out", str(work / "ls.jsonl")],
                       expect=1, before="RecursionError"))

    argilla = work / "deep-argilla.jsonl"
    argilla.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    probes.append(dict(name="Argilla export nested 100,000 deep", finding="4", file=argilla,
                       args=["import", "argilla", str(argilla), "--batch-id", "b", "--out", str(work / "ar.jsonl")],
                       expect=1, before="RecursionError"))
    return probes


def measure(probes: list[dict], cwd: Path) -> list[dict]:
    results = []
    for probe in probes:
        proc = subprocess.Popen([sys.executable, "-m", "alignment_ci.cli", *probe["args"],
                                 *(["--format", "json"] if probe["args"][0] == "validate" else [])],
                                cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        start = time.perf_counter()
        # Drain the pipes in threads so that wait4 (which reaps the child and returns
        # its own resource usage) can be the call that waits.
        chunks: dict[str, bytes] = {}

        def drain(name: str, stream) -> None:
            chunks[name] = stream.read()

        threads = [threading.Thread(target=drain, args=(n, s)) for n, s in (("out", proc.stdout), ("err", proc.stderr))]
        for t in threads:
            t.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        for t in threads:
            t.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout, stderr = chunks["out"].decode(errors="replace"), chunks["err"].decode(errors="replace")
        answer = ""
        if stdout.strip().startswith("{"):
            report = json.loads(stdout)
            errors = report.get("errors") or []
            answer = errors[0]["message"] if errors else f"accepted ({report.get('warning_count', 0):,} warnings)"
        if not answer:
            answer = next((ln for ln in stderr.splitlines() if ln.startswith("error")), "")
        if "Traceback" in stderr or proc.returncode < 0:
            answer = "CRASH: " + (stderr.strip().splitlines() or [f"signal {-proc.returncode}"])[-1]
        answer = answer.replace(str(cwd) + "/", "")
        results.append({**probe, "exit": proc.returncode, "wall_s": wall, "rss_mib": usage.ru_maxrss / 1024,
                        "answer": answer, "bytes": probe["file"].stat().st_size, "ok": proc.returncode == probe["expect"]
                        and not answer.startswith("CRASH")})
        print(f"{probe['name']}: exit {proc.returncode}, {wall:.2f} s, {usage.ru_maxrss / 1024:.0f} MiB — {answer[:120]}",
              file=sys.stderr)
    return results


def _short(text: str, n: int = 150) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    for prefix in ("error: ",):
        text = text.removeprefix(prefix)
    return text if len(text) <= n else text[: n - 1] + "…"


def section(results: list[dict], command: str, load: tuple[float, float] = (float("nan"), float("nan"))) -> str:
    import pyarrow  # after the probes ran
    import yaml

    lines = [
        f"## {TITLE}",
        "",
        "Issue 10's hostile inputs, each run through the CLI in a fresh process (`bench/hostile_probes.py`): wall "
        "time and the process's peak RSS (`os.wait4`), against the anchor of `validate` on a small valid batch "
        "(interpreter start and imports dominate it). Each must be answered by the project's clear error "
        "(exit 1 for a `validation.limits` bound, 2 for a bad config or export) with no crash and no "
        "traceback; `before` is what issue 10 measured without the limits.",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs), Python "
        f"{platform.python_version()}, pyarrow {pyarrow.__version__}, PyYAML {yaml.__version__}; 1-minute load average "
        f"{load[0]:.1f} before and {load[1]:.1f} after the probes (wall times include waiting for a core).",
        "",
        "| probe | finding | file | exit (expected) | wall s | peak RSS MiB | before | answer |",
        "| --- | --- | ---: | --- | ---: | ---: | --- | --- |",
    ]
    for r in results:
        size = r["bytes"]
        shown = f"{size / 1024 / 1024:.1f} MiB" if size >= 1 << 20 else f"{size / 1024:.1f} KiB"
        shown = shown if str(r["file"]) in r["args"] else "-"
        mark = "" if r["ok"] else " **unexpected**"
        lines.append(f"| {r['name']} | {r['finding']} | {shown} | {r['exit']} ({r['expect']}){mark} | {r['wall_s']:.2f} | "
                     f"{r['rss_mib']:.0f} | {r['before']} | {_short(r['answer'])} |")
    anchor = results[0]
    worst = max((r for r in results if not r["name"].startswith("anchor")), key=lambda r: r["wall_s"])
    lines += ["", f"Slowest probe: {worst['name']} at {worst['wall_s']:.2f} s "
              f"({worst['wall_s'] / anchor['wall_s']:.1f}x the anchor's {anchor['wall_s']:.2f} s); largest peak RSS: "
              f"{max(r['rss_mib'] for r in results):.0f} MiB (anchor {anchor['rss_mib']:.0f} MiB). "
              f"{sum(r['ok'] for r in results)} of {len(results)} answered as expected."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-docs", action="store_true", help="print the table without writing docs/benchmarks.md")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # internal: write the probes into DIR
    opts = parser.parse_args()
    if opts.build is not None:
        probes = [{**p, "file": str(p["file"])} for p in build(opts.build)]
        (opts.build / "probes.json").write_text(json.dumps(probes))
        return 0
    with tempfile.TemporaryDirectory(prefix="hostile-probes-") as d:
        work = Path(d)
        # Built in a child: Linux counts a forked child's pages before exec in its peak
        # RSS, so this process stays small while it starts the probes.
        subprocess.run([sys.executable, __file__, "--build", str(work)], check=True)
        probes = [{**p, "file": Path(p["file"])} for p in json.loads((work / "probes.json").read_text())]
        load_before = os.getloadavg()[0]
        results = measure(probes, work)
    text = section(results, "nice .venv/bin/python bench/hostile_probes.py", (load_before, os.getloadavg()[0]))
    print(text)
    if not opts.no_docs:
        replace_section(ROOT / "docs" / "benchmarks.md", TITLE, text)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
