"""Report benchmark: render the PR report for a 1M-judgment batch and 10k eval prompts.

Writes the "Report" section of docs/benchmarks.md. The benchmark measures rendering:
the inputs are built first (timed separately, not part of the claim) and handed to
``alignment_ci.report.write_report`` in a fresh interpreter, which renders every output
(the Markdown comment, condensed to GitHub's 65,536-character limit; the step summary;
the standalone HTML report with its matplotlib charts; the CSV tables).

Inputs:

* a 1,000,000-judgment pairwise frame (200,000 items x 5 judgments, 2 dimensions, 1,000
  raters of whom 10 % click randomly, 2 % are adversarial, 2 % always choose `a`, 2 %
  speed), summarised by ``label_health`` (agreement without bootstrap, rater flags);
  its validation report (1,000,000 rows, 2,000 warnings);
* 10,000 eval prompts with candidate and baseline answers (prompt 200-600 characters,
  answers 400-1,200, 1 % hostile text), their reward scores, 10 calibration bins, 20
  slices, 25 gates, two run records with 1,000 logged steps each.

Each measurement is a fresh process: *wall* includes interpreter start and imports
(jinja2, matplotlib), *render* is ``write_report`` alone; RSS is the process's peak
(VmHWM). Goal: render under 5 s.

    .venv/bin/python bench/report_bench.py [--judgments N] [--prompts N] [--repeat N] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alignment_ci.config import Config  # noqa: E402
from alignment_ci.report import ReportData  # noqa: E402
from docs_section import replace_section  # bench/ is on sys.path when a benchmark runs

DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Report"
GOAL_S = 5.0
HOSTILE = "=cmd|' /C calc'!A0 <script>alert(1)</script> ![x](http://evil) @org/team mallory@example.com"
WORDS = np.array("the answer explains how to reset a router then lists steps with care and a short summary of each option "
                 "for the user who asked about budgets passwords backups interviews".split())


def _texts(rng: np.random.Generator, n: int, lo: int, hi: int) -> list[str]:
    """``n`` texts of ``lo``..``hi`` characters from a small vocabulary (1 % hostile)."""
    out = []
    lengths = rng.integers(lo, hi, n)
    for i, length in enumerate(lengths):
        words = WORDS[rng.integers(0, len(WORDS), length // 5 + 1)]
        text = " ".join(words)[:length]
        out.append(HOSTILE + " " + text if i % 100 == 0 else text)
    return out


def judgment_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """A canonical pairwise frame of ``n`` judgments (5 per item) with planted rater behaviours."""
    rng = np.random.default_rng(seed)
    per_item = 5
    items = n // per_item
    n_raters = 1000
    roles = np.array(["careful"] * 840 + ["random"] * 100 + ["adversarial"] * 20 + ["first"] * 20 + ["speeder"] * 20)
    item = np.repeat(np.arange(items), per_item)
    # five distinct raters per item: a random offset plus 0..4 strides
    base = rng.integers(0, n_raters, items)
    rater = (np.repeat(base, per_item) + np.tile(np.arange(per_item) * 197, items)) % n_raters
    truth = rng.random(items) < 0.5
    truth_r = np.repeat(truth, per_item)  # True: "a" is better
    role = roles[rater]
    u = rng.random(n)
    correct = np.where(role == "careful", u < 0.9, np.where(role == "adversarial", u < 0.1, u < 0.5))
    choose_a = np.where(correct, truth_r, ~truth_r)
    choose_a = np.where(role == "first", rng.random(n) < 0.95, choose_a)
    choice = np.where(choose_a, "a", "b").astype(object)
    choice[(role == "careful") & (rng.random(n) < 0.03)] = "skip"
    gold = np.repeat(rng.random(items) < 0.1, per_item)
    seconds = np.where(role == "speeder", rng.uniform(0.4, 1.5, n), rng.uniform(10, 60, n))
    dims = np.array(["helpfulness", "factual_accuracy"])
    buckets = np.array(["production_failure", "uncertain", "random", "edge"])
    return pd.DataFrame({
        "batch_id": "bench-1m",
        "item_id": pd.Series(item).map("item-{:07d}".format),
        "rater_id": pd.Series(rater).map("r{:04d}".format),
        "dimension": dims[np.repeat(np.arange(items) % 2, per_item)],
        "task_type": "pairwise",
        "choice": choice,
        "is_gold": gold,
        "gold_choice": np.where(gold, np.where(truth_r, "a", "b"), None),
        "time_spent_s": seconds,
        "sampling_bucket": buckets[np.repeat(np.arange(items) % 4, per_item)],
    })


def build_inputs(judgments: int, prompts: int) -> tuple[ReportData, dict[str, float]]:
    from alignment_ci.quality.health import label_health

    times: dict[str, float] = {}
    t = time.perf_counter()
    df = judgment_frame(judgments)
    times["frame"] = time.perf_counter() - t
    t = time.perf_counter()
    health = label_health(df, Config(), warnings={"pii": 1000, "formula": 1000}, bootstrap_samples=0)
    times["label_health"] = time.perf_counter() - t
    times["flagged_raters"] = len(health["flagged_raters"])
    del df
    t = time.perf_counter()
    rng = np.random.default_rng(1)
    cand = rng.normal(0.3, 1.0, prompts)
    base = rng.normal(0.0, 1.0, prompts)
    slices = [f"{d}/{b}" for d in ("helpfulness", "factual_accuracy", "safety", "style_tone", "instruction_following")
              for b in ("production_failure", "uncertain", "random", "edge")]
    slice_of = np.arange(prompts) % len(slices)
    p_text, c_text, b_text = _texts(rng, prompts, 200, 600), _texts(rng, prompts, 400, 1200), _texts(rng, prompts, 400, 1200)
    examples = [{"slice": slices[slice_of[i]], "prompt": p_text[i], "candidate": c_text[i], "baseline": b_text[i],
                 "candidate_score": float(cand[i]), "baseline_score": float(base[i])} for i in range(prompts)]
    wins = []
    for s, name in enumerate(slices):
        won = cand[slice_of == s] > base[slice_of == s]
        rate, n = float(won.mean()), int(won.size)
        half = 1.96 * np.sqrt(rate * (1 - rate) / n)
        wins.append({"slice": name, "win_rate": rate, "n": n, "interval": [rate - half, rate + half]})
    p = 1 / (1 + np.exp(-(cand - base)))
    outcome = rng.random(prompts) < p
    edges = np.linspace(0, 1, 11)
    calibration = [{"predicted": float(p[(p >= lo) & (p < hi)].mean()), "observed": float(outcome[(p >= lo) & (p < hi)].mean()),
                    "n": int(((p >= lo) & (p < hi)).sum())} for lo, hi in zip(edges[:-1], edges[1:]) if ((p >= lo) & (p < hi)).any()]
    gates = [{"gate": f"gate-{i:02d}", "outcome": "fail" if i == 3 else "pass", "blocking": i != 7, "value": 0.8,
              "threshold": 0.7, "interval": [0.75, 0.85], "n": prompts, "details": {"reason": "lower bound vs threshold"}} for i in range(25)]

    def run(key: str, acc: float) -> dict[str, Any]:
        return {"run_key": key * 64, "stage": "reward", "artifact": key * 64, "metrics": {"eval_accuracy": acc, "eval_loss": 1 - acc},
                "per_step": [{"step": s, "loss": 1 / (1 + s / 50)} for s in range(1000)], "device": "cuda", "backend": "modal", "wall_s": 5400.0}

    warnings = [{"line": i * 500 + 1, "column": "prompt", "kind": "pii", "message": "prompt contains what looks like an e-mail address"}
                for i in range(1000)]
    data = ReportData(
        project="report-bench",
        validation=[{"batch_id": "bench-1m", "path": "incoming/bench-1m.parquet", "accepted": True, "rows": judgments,
                     "errors": [], "warnings": warnings, "error_count": 0, "warning_count": 2000}],
        health=[health],
        candidate=run("a", 0.81), baseline=run("b", 0.79), gates=gates,
        lineage={"snapshot": "c" * 64, "git_commit": "d" * 40,
                 "runs": [{"role": "candidate", "stage": "reward", "run_key": "a" * 64, "artifact": "a" * 64}],
                 "batches": [{"batch_id": "bench-1m", "vendor": "acme", "sha256": "e" * 64}]},
        cost={"labels": judgments, "annotation_usd": judgments * 0.5, "gpu_hours": 1.5, "gpu": "H100", "gpu_usd": 6.0,
              "total_usd": judgments * 0.5 + 6},
        reward_scores={"candidate": cand.tolist(), "baseline": base.tolist()},
        calibration=calibration, win_rates=wins, examples=examples,
        html_url="https://github.com/octo-org/alignment-repo/actions/runs/1#artifacts",
    )
    times["eval_inputs"] = time.perf_counter() - t
    return data, times


_CHILD = """
import json, pickle, re, sys, time
t0 = time.perf_counter()
from alignment_ci.report import write_report
from alignment_ci.report.markdown import utf16_len
imports = time.perf_counter() - t0
data = pickle.load(open(sys.argv[1], "rb"))
t = time.perf_counter()
files = write_report(data, sys.argv[2])
render = time.perf_counter() - t
md = files.markdown.read_text()
level = re.search(r"condensed \\(level (\\d)\\)", md)
hwm = int(re.search(r"VmHWM:\\s*(\\d+) kB", open("/proc/self/status").read()).group(1))
print(json.dumps({"imports_s": imports, "render_s": render, "timings": files.timings, "rss_kib": hwm,
                  "md_chars": utf16_len(md), "md_level": int(level.group(1)) if level else 0,
                  "html_bytes": files.html.stat().st_size, "csv_bytes": sum(p.stat().st_size for p in files.csv.values())}))
"""


def measure(pickle_path: Path, out_dir: Path) -> dict[str, Any]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(pickle_path), str(out_dir)], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - start
    return result


def machine() -> dict[str, Any]:
    import jinja2
    import matplotlib

    cpu = platform.processor() or ""
    try:
        m = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "jinja2": jinja2.__version__, "matplotlib": matplotlib.__version__,
            "numpy": np.__version__, "pandas": pd.__version__}


def render_section(args: argparse.Namespace, build: dict[str, float], runs: list[dict[str, Any]], info: dict[str, Any]) -> str:
    best = min(runs, key=lambda r: r["render_s"])
    t = best["timings"]
    met = "met" if best["render_s"] < GOAL_S else "missed"
    return "\n".join([
        SECTION,
        "",
        f"`alignment-ci report` rendering (`write_report`) for a {args.judgments:,}-judgment batch and {args.prompts:,} eval prompts "
        "(`bench/report_bench.py`): the Markdown PR comment (condensed to GitHub's 65,536-character limit), the step summary, "
        "the standalone HTML report with its matplotlib charts, and the CSV tables. The inputs are built first and not part of "
        "the claim: the label-health summary of the judgment frame (`label_health`, no bootstrap), the eval prompts with "
        "answers of 400-1,200 characters (1 % hostile text), reward scores, calibration bins, 20 slices, 25 gates. Each "
        f"measurement is a fresh process (wall includes interpreter start and imports); RSS is its peak. Best of {args.repeat} runs.",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['os']}. Versions: Python {info['python']}, jinja2 {info['jinja2']}, "
        f"matplotlib {info['matplotlib']}, numpy {info['numpy']}, pandas {info['pandas']}. The machine is shared: 1-minute load "
        f"average {info['load'][0]:.1f} before and {info['load'][1]:.1f} after the measurements, so single runs vary.",
        "",
        "Command: `.venv/bin/python bench/report_bench.py`",
        "",
        "| inputs | render | markdown | step summary | HTML (4 charts) | CSV | wall (process) | peak RSS | goal | met |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
        f"| {args.judgments:,} judgments, {args.prompts:,} prompts | {best['render_s']:.2f} s | {t['markdown']:.2f} s | {t['summary']:.2f} s "
        f"| {t['html']:.2f} s | {t['csv']:.2f} s | {best['wall_s']:.2f} s | {best['rss_kib'] / 1024:,.0f} MiB | render < {GOAL_S:.0f} s | {met} |",
        "",
        f"- Outputs: comment {best['md_chars']:,} characters (condensed to level {best['md_level']}), HTML {best['html_bytes'] / 2**20:.1f} MiB, "
        f"CSV {best['csv_bytes'] / 2**20:.1f} MiB. Imports (jinja2, alignment_ci.report) {best['imports_s']:.2f} s; matplotlib is imported "
        "during the HTML render and counted in it.",
        "- Render seconds, all runs: " + ", ".join(f"{r['render_s']:.2f}" for r in runs) + ".",
        f"- Building the inputs (not timed above): frame {build['frame']:.1f} s, `label_health` on {args.judgments:,} judgments "
        f"{build['label_health']:.1f} s ({build['flagged_raters']:,} raters flagged, all listed in the comment), "
        f"eval inputs {build['eval_inputs']:.1f} s.",
        "",
    ])


def write_section(section: str) -> None:
    replace_section(DOC, "Report", section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judgments", type=int, default=1_000_000)
    parser.add_argument("--prompts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing docs/benchmarks.md")
    args = parser.parse_args(argv)
    data, build = build_inputs(args.judgments, args.prompts)
    print(f"inputs built: {build}", file=sys.stderr)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="report-bench-") as tmp:
        pickle_path = Path(tmp) / "data.pkl"
        with open(pickle_path, "wb") as fh:
            pickle.dump(data, fh)
        runs = []
        for i in range(args.repeat):
            runs.append(measure(pickle_path, Path(tmp) / f"out{i}"))
            print(f"run {i}: {runs[-1]}", file=sys.stderr)
    info = machine()
    info["load"] = (load_before, os.getloadavg()[0])
    section = render_section(args, build, runs, info)
    if not args.no_write and args.judgments == 1_000_000 and args.prompts == 10_000:
        write_section(section)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
