"""Aggregation benchmarks: Bradley–Terry against choix, Dawid–Skene against crowd-kit.

Same run, same data, ratios are the claim (DESIGN "Performance"):

- Bradley–Terry: 100 entities, 1,000,000 comparisons drawn from a BT model with known
  strengths. Anchor: ``choix.ilsr_pairwise`` (alpha = 0, the unregularised MLE) on the
  comparison list; ours: ``alignment_ci.quality.bradley_terry.bradley_terry`` on the
  same comparisons as arrays (the collapse into win counts is inside the timing).
  Goal (issue 3): >= 10x faster, strengths identical to 1e-6.
- Dawid–Skene: 200,000 labels (40,000 pairwise tasks x 5 raters; labels a/b/tie) from
  250 raters of mixed skill, 10 % of them adversarial. Anchor: crowd-kit's
  ``DawidSkene(n_iter=100)``; ours: ``alignment_ci.quality.dawid_skene.DawidSkene``.
  Goal: <= 1.5x its time, accuracy against the planted truth no lower.

Both sides take the best of three runs. Each function returns a dict of results; :func:`markdown` renders them as table rows
for the "Label quality" section of docs/benchmarks.md (the lead's quality benchmark
runner writes that section).

    .venv/bin/python bench/bt_ds_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alignment_ci.quality.bradley_terry import bradley_terry  # noqa: E402
from alignment_ci.quality.dawid_skene import DawidSkene  # noqa: E402

BT_GOAL_SPEEDUP = 10.0
BT_TOLERANCE = 1e-6
DS_GOAL_TIME_RATIO = 1.5


def _timed(fn: Any, repeat: int = 1) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def bench_bradley_terry(n_entities: int = 100, n_comparisons: int = 1_000_000, seed: int = 0) -> dict[str, Any]:
    """Time and agreement of our BT MLE against ``choix.ilsr_pairwise`` on the same comparisons."""
    import choix

    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 1.0, n_entities)
    i = rng.integers(0, n_entities, n_comparisons)
    j = (i + rng.integers(1, n_entities, n_comparisons)) % n_entities  # j != i
    i_wins = rng.random(n_comparisons) < 1.0 / (1.0 + np.exp(-(theta[i] - theta[j])))
    winners = np.where(i_wins, i, j)
    losers = np.where(i_wins, j, i)
    comparisons = list(zip(winners.tolist(), losers.tolist()))

    ours_s, ours = _timed(lambda: bradley_terry(winners, losers, n_entities), repeat=3)
    choix_s, reference = _timed(lambda: choix.ilsr_pairwise(n_entities, comparisons, alpha=0.0), repeat=3)
    max_diff = float(np.max(np.abs(ours.strengths - reference)))
    return {
        "benchmark": "bradley-terry",
        "n_entities": n_entities,
        "n_comparisons": n_comparisons,
        "anchor": f"choix.ilsr_pairwise (choix {version('choix')})",
        "anchor_s": choix_s,
        "ours_s": ours_s,
        "speedup": choix_s / ours_s,
        "max_abs_strength_diff": max_diff,
        "newton_steps": ours.iterations,
        "goal": f">= {BT_GOAL_SPEEDUP:g}x faster, strengths equal to {BT_TOLERANCE:g}",
        "met": bool(choix_s / ours_s >= BT_GOAL_SPEEDUP and max_diff <= BT_TOLERANCE),
    }


def _crowd(n_labels: int, per_task: int, n_workers: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    labels = np.array(["a", "b", "tie"])
    n_tasks = n_labels // per_task
    truth = rng.choice(3, n_tasks, p=[0.45, 0.45, 0.10])
    skill = rng.uniform(0.45, 0.95, n_workers)
    adversarial = rng.random(n_workers) < 0.10
    task = np.repeat(np.arange(n_tasks), per_task)
    # per_task distinct workers per task
    worker = np.concatenate([rng.choice(n_workers, per_task, replace=False) for _ in range(n_tasks)])
    correct = rng.random(task.size) < skill[worker]
    random_label = rng.integers(0, 3, task.size)
    answer = np.where(correct, truth[task], random_label)
    # Adversarial raters swap a and b when they know the answer.
    swapped = np.select([answer == 0, answer == 1], [1, 0], 2)
    answer = np.where(adversarial[worker] & correct, swapped, answer)
    data = pd.DataFrame({
        "task": pd.Series(task).map("t{:06d}".format),
        "worker": pd.Series(worker).map("w{:03d}".format),
        "label": labels[answer],
    })
    truth_s = pd.Series(labels[truth], index=[f"t{t:06d}" for t in range(n_tasks)])
    return data, truth_s


def bench_dawid_skene(n_labels: int = 200_000, per_task: int = 5, n_workers: int = 250, seed: int = 0) -> dict[str, Any]:
    """Time and accuracy of our Dawid–Skene against crowd-kit's on the same labels."""
    from crowdkit.aggregation import DawidSkene as CrowdKitDawidSkene

    data, truth = _crowd(n_labels, per_task, n_workers, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ck_s, ck = _timed(lambda: CrowdKitDawidSkene(n_iter=100).fit(data), repeat=3)
    ours_s, ours = _timed(lambda: DawidSkene(n_iter=100).fit(data), repeat=3)
    ck_acc = float((ck.labels_.reindex(truth.index) == truth).mean())
    ours_acc = float((ours.labels_.reindex(truth.index) == truth).mean())
    ratio = ours_s / ck_s
    return {
        "benchmark": "dawid-skene",
        "n_labels": len(data),
        "n_tasks": len(truth),
        "n_workers": n_workers,
        "anchor": f"crowdkit.aggregation.DawidSkene (crowd-kit {version('crowd-kit')})",
        "anchor_s": ck_s,
        "ours_s": ours_s,
        "time_ratio": ratio,
        "anchor_accuracy": ck_acc,
        "ours_accuracy": ours_acc,
        "anchor_iterations": len(ck.loss_history_),
        "ours_iterations": len(ours.loss_history_),
        "goal": f"<= {DS_GOAL_TIME_RATIO:g}x anchor time, accuracy no lower",
        "met": bool(ratio <= DS_GOAL_TIME_RATIO and ours_acc >= ck_acc),
    }


BENCHMARKS = {"bradley-terry": bench_bradley_terry, "dawid-skene": bench_dawid_skene}


def markdown(results: list[dict[str, Any]]) -> str:
    """Table rows for docs/benchmarks.md: what, anchor, anchor time, ours, ratio, quality, goal met."""
    lines = [
        "| benchmark | data | anchor | anchor s | ours s | ratio | quality | goal | met |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for r in results:
        if r["benchmark"] == "bradley-terry":
            data = f"{r['n_entities']} entities, {r['n_comparisons']:,} comparisons"
            ratio = f"{r['speedup']:.1f}x faster"
            quality = f"max abs strength diff {r['max_abs_strength_diff']:.1e}"
        else:
            data = f"{r['n_labels']:,} labels, {r['n_tasks']:,} tasks, {r['n_workers']} raters"
            ratio = f"{r['time_ratio']:.3f}x time"
            quality = f"accuracy {r['ours_accuracy']:.4f} vs {r['anchor_accuracy']:.4f}"
        lines.append(
            f"| {r['benchmark']} | {data} | `{r['anchor']}` | {r['anchor_s']:.2f} | {r['ours_s']:.3f} | "
            f"{ratio} | {quality} | {r['goal']} | {'yes' if r['met'] else 'NO'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the data (smoke run)")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    results = [
        bench_bradley_terry(n_comparisons=1_000_000 // scale),
        bench_dawid_skene(n_labels=200_000 // scale),
    ]
    print(json.dumps(results, indent=2))
    print(markdown(results))
    return 0 if all(r["met"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
