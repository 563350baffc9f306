"""Label-quality benchmarks; writes the "Label quality" section of docs/benchmarks.md.

Same run, same data, ratios are the claim (DESIGN "Performance"). Registered groups:

- ``krippendorff-alpha`` (here): Krippendorff's alpha, 5 raters x 200,000 items, nominal
  (pairwise a/b/tie, 20 % of judgments missing), against the ``krippendorff`` package
  called directly. Two measurements:

  * *matrix*: the same raters x items matrix (NaN = missing) handed to
    ``krippendorff.alpha(reliability_data=...)`` and to
    ``alignment_ci.quality.agreement.alpha_from_reliability_data``. Goal: <= 1.2x.
  * *label rows*: from the canonical long DataFrame (one row per judgment, string ids):
    ``agreement_report(df, bootstrap_samples=0)`` (coding, uniqueness check, alpha, kappas,
    percent agreement) against the shortest path to the package (code the choices,
    ``DataFrame.pivot`` to the matrix, ``krippendorff.alpha``).

  Also timed, with no anchor: the seeded 1,000-resample bootstrap interval.
- ``bradley-terry`` / ``dawid-skene``: from ``bench/bt_ds_bench.py`` when importable.

Timings are the best of ``--repeat`` runs, anchor and ours interleaved.

    .venv/bin/python bench/quality_bench.py [--quick] [--only NAME] [--no-write]

Only a full run (every group, full size) rewrites the section; ``--quick`` and ``--only``
print it instead.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from docs_section import replace_section  # noqa: E402
from alignment_ci.quality.agreement import (  # noqa: E402
    PAIRWISE_CODES,
    agreement_report,
    alpha_bootstrap_ci,
    alpha_from_reliability_data,
    coded_judgments,
    value_counts_matrix,
)

DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Label quality"
ALPHA_GOAL = 1.2


@dataclass
class BenchGroup:
    """A benchmark group: ``run(quick)`` returns result dicts, ``render`` turns them into Markdown."""

    name: str
    run: Callable[[bool], list[dict[str, Any]]]
    render: Callable[[list[dict[str, Any]]], str]


REGISTRY: dict[str, BenchGroup] = {}


def register(group: BenchGroup) -> BenchGroup:
    REGISTRY[group.name] = group
    return group


def _interleaved(fns: dict[str, Callable[[], Any]], repeat: int) -> tuple[dict[str, float], dict[str, Any]]:
    best = {k: float("inf") for k in fns}
    out: dict[str, Any] = {}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            out[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, out


def alpha_data(n_items: int = 200_000, n_raters: int = 5, missing: float = 0.2, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Canonical pairwise rows and the matching raters x items matrix (codes a=1, tie=2, b=3)."""
    rng = np.random.default_rng(seed)
    labels = np.array(["a", "b", "tie"])
    truth = rng.choice(3, n_items, p=[0.45, 0.45, 0.10])
    noise = rng.integers(0, 3, (n_raters, n_items))
    codes = np.where(rng.random((n_raters, n_items)) < 0.8, truth, noise)
    choice = labels[codes].astype(object)
    choice[rng.random((n_raters, n_items)) < missing] = "skip"
    items = np.array([f"item-{i:07d}" for i in range(n_items)], dtype=object)
    raters = np.array([f"rater-{r}" for r in range(n_raters)], dtype=object)
    df = pd.DataFrame({
        "batch_id": "bench",
        "item_id": np.tile(items, n_raters),
        "rater_id": np.repeat(raters, n_items),
        "dimension": "helpfulness",
        "task_type": "pairwise",
        "prompt": "p",
        "response_a": "x",
        "response_b": "y",
        "choice": choice.ravel(),
    })
    df = df[df["choice"] != "skip"].sample(frac=1.0, random_state=seed).reset_index(drop=True)  # missing = absent row
    matrix = np.vectorize(lambda c: PAIRWISE_CODES.get(c, np.nan), otypes=[float])(choice)
    return df, matrix


def _anchor_from_rows(df: pd.DataFrame) -> float:
    """The shortest path from label rows to the package: code, pivot, call it."""
    import krippendorff

    idx, uniques = pd.factorize(df["choice"])
    value = np.array([PAIRWISE_CODES[u] for u in uniques])[idx]
    matrix = pd.DataFrame({"rater": df["rater_id"], "item": df["item_id"], "v": value}).pivot(
        index="rater", columns="item", values="v"
    )
    return float(krippendorff.alpha(reliability_data=matrix.to_numpy(), level_of_measurement="nominal"))


def bench_krippendorff_alpha(quick: bool = False, repeat: int = 5) -> list[dict[str, Any]]:
    import krippendorff

    n_items = 20_000 if quick else 200_000
    df, matrix = alpha_data(n_items)
    data = f"5 raters x {n_items:,} items, nominal, {np.isnan(matrix).mean():.0%} missing"
    results = []

    times, out = _interleaved(
        {
            "anchor": lambda: krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"),
            "ours": lambda: alpha_from_reliability_data(matrix, "nominal"),
        },
        repeat,
    )
    ratio = times["ours"] / times["anchor"]
    results.append({
        "benchmark": "krippendorff-alpha (matrix)", "data": data, "anchor": "krippendorff.alpha(reliability_data)",
        "anchor_s": times["anchor"], "ours_s": times["ours"], "ratio": ratio,
        "quality": f"alpha {out['ours']:.4f}, abs. diff {abs(out['ours'] - out['anchor']):.1e}",
        "goal": f"<= {ALPHA_GOAL:g}x", "met": bool(ratio <= ALPHA_GOAL and abs(out["ours"] - out["anchor"]) < 1e-9),
    })

    times, out = _interleaved(
        {
            "anchor": lambda: _anchor_from_rows(df),
            "ours": lambda: agreement_report(df, bootstrap_samples=0)["dimensions"]["helpfulness"]["krippendorff_alpha"],
        },
        max(2, repeat // 2),
    )
    ratio = times["ours"] / times["anchor"]
    results.append({
        "benchmark": "krippendorff-alpha (label rows)", "data": f"{len(df):,} label rows (string ids)",
        "anchor": "pivot + krippendorff.alpha", "anchor_s": times["anchor"], "ours_s": times["ours"], "ratio": ratio,
        "quality": f"abs. alpha diff {abs(out['ours'] - out['anchor']):.1e}",
        "goal": f"<= {ALPHA_GOAL:g}x", "met": bool(ratio <= ALPHA_GOAL and abs(out["ours"] - out["anchor"]) < 1e-9),
    })

    coded = coded_judgments(df)
    counts, domain = value_counts_matrix(coded["unit"].to_numpy(), coded["value"].to_numpy())
    times, out = _interleaved({"ours": lambda: alpha_bootstrap_ci(counts, domain, "nominal", 1000, 0)}, 3)
    results.append({
        "benchmark": "alpha bootstrap 95% interval", "data": f"{len(counts):,} units, 1,000 resamples",
        "anchor": "-", "anchor_s": None, "ours_s": times["ours"], "ratio": None,
        "quality": f"[{out['ours'][0]:.4f}, {out['ours'][1]:.4f}]", "goal": "-", "met": None,
    })
    return results


def render_rows(results: list[dict[str, Any]]) -> str:
    lines = [
        "| benchmark | data | anchor | anchor s | ours s | ours / anchor | quality | goal | met |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for r in results:
        anchor_s = f"{r['anchor_s']:.3f}" if r["anchor_s"] is not None else "-"
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        met = "-" if r["met"] is None else ("yes" if r["met"] else "NO")
        lines.append(
            f"| {r['benchmark']} | {r['data']} | `{r['anchor']}` | {anchor_s} | {r['ours_s']:.3f} | {ratio} | "
            f"{r['quality']} | {r['goal']} | {met} |"
        )
    return "\n".join(lines)


register(BenchGroup("krippendorff-alpha", bench_krippendorff_alpha, render_rows))


def _register_bt_ds() -> str | None:
    """Add the Bradley–Terry and Dawid–Skene groups from bench/bt_ds_bench.py, if present."""
    try:
        module = importlib.import_module("bt_ds_bench")
    except Exception as exc:  # the aggregation code may not exist yet
        return f"bt_ds_bench not run: {type(exc).__name__}: {exc}"
    for name, fn in module.BENCHMARKS.items():
        def run(quick: bool, fn: Callable[..., dict[str, Any]] = fn, name: str = name) -> list[dict[str, Any]]:
            if not quick:
                return [fn()]
            small = {"bradley-terry": {"n_comparisons": 100_000}, "dawid-skene": {"n_labels": 20_000}}
            return [fn(**small.get(name, {}))]

        register(BenchGroup(name, run, module.markdown))
    return None


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    cpu = platform.processor() or ""
    try:
        m = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__,
        "krippendorff": version("krippendorff"), "scikit-learn": version("scikit-learn"),
        "statsmodels": version("statsmodels"),
    }


def render(results: dict[str, list[dict[str, Any]]], info: dict[str, Any], quick: bool, notes: list[str]) -> str:
    lines = [
        SECTION,
        "",
        "Quality statistics against the field's reference implementations on the same data in the "
        "same run (`bench/quality_bench.py`; times are the best of several interleaved runs, in seconds). "
        "*matrix*: both sides get the same raters x items array; *label rows*: both start from the "
        "canonical long DataFrame, ours computing the whole agreement entry (alpha, Fleiss/Cohen "
        "applicability, percent agreement, uniqueness check) without the bootstrap.",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['os']}. Versions: Python {info['python']}, "
        f"numpy {info['numpy']}, pandas {info['pandas']}, krippendorff {info['krippendorff']}, "
        f"scikit-learn {info['scikit-learn']}, statsmodels {info['statsmodels']}.",
        "",
        f"Command: `.venv/bin/python bench/quality_bench.py{' --quick' if quick else ''}`",
        "",
    ]
    for name, rows in results.items():
        lines += [f"### {name}", "", REGISTRY[name].render(rows), ""]
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_section(section: str) -> None:
    """Replace this section of docs/benchmarks.md (creating the file if needed), keep the rest."""
    replace_section(DOC, SECTION.removeprefix("## "), section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the data (smoke run)")
    parser.add_argument("--only", action="append", help="run only this group (repeatable)")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing the doc")
    args = parser.parse_args(argv)
    notes = [n for n in [_register_bt_ds()] if n]
    names = args.only or list(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; registered: {', '.join(REGISTRY)}")
    results: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        start = time.perf_counter()
        results[name] = REGISTRY[name].run(args.quick)
        print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    print(json.dumps(results, indent=2, default=str), file=sys.stderr)
    section = render(results, machine(), args.quick, notes)
    partial = args.quick or set(names) != set(REGISTRY)
    if args.no_write or partial:
        # only a full-size run of every group may stand in the doc
        if partial and not args.no_write:
            print("partial or --quick run: printing the section, docs/benchmarks.md unchanged", file=sys.stderr)
        print(section)
    else:
        write_section(section)
        print(f"wrote {SECTION!r} to {DOC}", file=sys.stderr)
    met = [r["met"] for rows in results.values() for r in rows if r.get("met") is not None]
    return 0 if all(met) else 1


if __name__ == "__main__":
    raise SystemExit(main())
