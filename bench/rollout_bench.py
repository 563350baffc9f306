"""Rollout benchmark: candidate events until rollback, three ways, at the same false-rollback rate.

Scenario (the issue's): the baseline's bad-event rate is 5%; the candidate's is 7%
(regressed) or 5% (healthy). Each run watches up to ``--horizon`` candidate events;
the baseline serves the rest of the traffic (the candidate's share is ``s``). At most
1% of healthy runs may be rolled back.

* (a) this controller's test: the conditional mixture e-process of
  :mod:`alignment_ci.rollout.sequential` (candidate vs baseline events, baseline rate
  unknown), alpha = 0.01, evaluated after every event.
* (b) fixed-window threshold analysis as Argo Rollouts / Flagger configure it: every
  ``N`` candidate events, check the window's bad-event rate against a threshold; roll
  back after ``k`` failed checks. (b1) the threshold is the midpoint 6% and ``N, k`` are
  tuned; (b2) ``N, k`` and the threshold are all tuned. Tuning uses separate calibration
  runs: the fastest mean time to rollback among settings with <= 1% false rollbacks.
* (c) Wald's SPRT of p = 5% against p = 7% on the candidate's events, baseline rate known
  (the optimum for this pair; one-sided, rolls back at LR >= 1/alpha).

Usage: ``python bench/rollout_bench.py [--runs 4000] [--write docs/benchmarks.md]``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alignment_ci.rollout.sequential import rate_ratio_log_lr, rate_ratio_prior, wald_sprt_log_lr  # noqa: E402
from alignment_ci.rollout.simulator import BadEventRuns, simulate_bad_event_runs  # noqa: E402
from docs_section import replace_section  # bench/ is on sys.path when a benchmark runs

P_BASE = 0.05
P_BAD = 0.07
ALPHA = 0.01
MAX_FALSE = 0.01
SHARES = (0.02, 0.10, 0.50)
EFFECT = P_BAD / P_BASE - 1  # 0.4: the prior's centre, the regression the benchmark looks for
WIDTH = 0.15
WINDOWS = (100, 200, 300, 400, 500, 750, 1000, 1250, 1500, 2000, 2500, 3000, 4000, 5000)
FAILS = (1, 2, 3, 4, 5)


@dataclass
class Result:
    times: np.ndarray  # candidate events until rollback; horizon + 1 when never rolled back

    def summary(self, horizon: int) -> dict[str, float]:
        hit = self.times <= horizon
        censored = np.minimum(self.times, horizon)
        return {
            "rolled_back": float(hit.mean()),
            "mean": float(censored.mean()),
            "p95": float(np.percentile(censored, 95)),
        }


def first_crossing(log_values: np.ndarray, position: np.ndarray, threshold: float, horizon: int) -> np.ndarray:
    """Candidate-event index of the first bad event where the log statistic reaches ``threshold``."""
    hit = (log_values >= threshold) & (position <= horizon)
    any_hit = hit.any(axis=1)
    idx = hit.argmax(axis=1)
    return np.where(any_hit, position[np.arange(len(position)), idx], horizon + 1)


def controller_times(runs: BadEventRuns, share: float, effect: float, width: float, chunk: int = 500) -> Result:
    """(a): the mixture e-process is largest right after a candidate bad event, so those are the looks that matter."""
    prior = rate_ratio_prior(0.0, effect, width)
    out = []
    for lo in range(0, runs.position.shape[0], chunk):
        pos = runs.position[lo : lo + chunk]
        c = np.broadcast_to(np.arange(1, pos.shape[1] + 1, dtype=float), pos.shape)
        d = runs.baseline_bad[lo : lo + chunk].astype(float)
        acc = np.full(pos.shape, -np.inf)
        for rho, log_w in zip(prior.rho, prior.log_weight):
            lr = rate_ratio_log_lr(c[..., None], d[..., None], np.array([share]), np.array([rho]), 1.0)[..., 0]
            acc = np.logaddexp(acc, lr + log_w)
        out.append(first_crossing(acc, pos, math.log(1 / ALPHA), runs.horizon))
    return Result(np.concatenate(out))


def sprt_times(runs: BadEventRuns) -> Result:
    """(c): Wald's log LR, maximal right after a bad event."""
    pos = runs.position
    bad = np.arange(1, pos.shape[1] + 1)[None, :]
    log_lr = wald_sprt_log_lr(bad, pos, P_BASE, P_BAD)
    return Result(first_crossing(log_lr, pos, math.log(1 / ALPHA), runs.horizon))


def window_counts(runs: BadEventRuns, n: int) -> np.ndarray:
    """Bad candidate events in each full window of ``n`` candidate events, shape (runs, windows)."""
    m = runs.horizon // n
    r, k = runs.position.shape
    span = runs.horizon + 2
    flat = (runs.position + np.arange(r)[:, None] * span).ravel()
    edges = (np.arange(m + 1)[None, :] * n + np.arange(r)[:, None] * span).ravel()
    cum = np.searchsorted(flat, edges, side="right").reshape(r, m + 1)
    return np.diff(cum, axis=1)


def fixed_window_times(counts: np.ndarray, n: int, k: int, max_count: int, horizon: int) -> np.ndarray:
    """Time of the k-th window whose count exceeds ``max_count`` (horizon + 1 if fewer than k)."""
    failed = np.cumsum(counts > max_count, axis=1)
    reached = failed >= k
    any_hit = reached.any(axis=1)
    return np.where(any_hit, (reached.argmax(axis=1) + 1) * n, horizon + 1)


def tune_fixed_window(
    healthy: BadEventRuns, regressed: BadEventRuns, threshold_rate: float | None
) -> tuple[int, int, int, float]:
    """Best (N, k, max_count) with <= 1% false rollbacks on the calibration runs; also its mean time."""
    best: tuple[int, int, int, float] | None = None
    for n in WINDOWS:
        if healthy.horizon // n < 1:
            continue
        h_counts, r_counts = window_counts(healthy, n), window_counts(regressed, n)
        for k in FAILS:
            if k > healthy.horizon // n:
                continue
            if threshold_rate is not None:
                candidates = [int(math.floor(threshold_rate * n))]
            else:
                candidates = list(range(int(P_BASE * n), int(3 * P_BAD * n) + 2))
            for c in candidates:
                false = (fixed_window_times(h_counts, n, k, c, healthy.horizon) <= healthy.horizon).mean()
                if false > MAX_FALSE:
                    continue
                t = np.minimum(fixed_window_times(r_counts, n, k, c, regressed.horizon), regressed.horizon).mean()
                if best is None or t < best[3]:
                    best = (n, k, c, float(t))
                break  # the smallest admissible count is the fastest for this (N, k)
    if best is None:
        raise RuntimeError("no fixed-window setting reaches <= 1% false rollbacks")
    return best


def machine() -> dict[str, str]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = str(len(os.sched_getaffinity(0)))
    except AttributeError:
        cores = str(os.cpu_count())
    return {
        "cpu": cpu or "unknown",
        "cores": cores,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def run(runs: int, horizon: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    # Calibration runs tune (b); fresh runs are reported for every method.
    cal_h = simulate_bad_event_runs(runs, horizon, P_BASE, P_BASE, 0.5, rng)
    cal_r = simulate_bad_event_runs(runs, horizon, P_BAD, P_BASE, 0.5, rng)
    b1 = tune_fixed_window(cal_h, cal_r, threshold_rate=0.06)
    b2 = tune_fixed_window(cal_h, cal_r, threshold_rate=None)
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for share in SHARES:
        healthy = simulate_bad_event_runs(runs, horizon, P_BASE, P_BASE, share, rng)
        regressed = simulate_bad_event_runs(runs, horizon, P_BAD, P_BASE, share, rng)
        for name, fn in (
            ("a", lambda r: controller_times(r, share, EFFECT, WIDTH)),
            ("a_default_prior", lambda r: controller_times(r, share, 0.3, 0.25)),
        ):
            rows[f"{name}@{share}"] = {"healthy": fn(healthy).summary(horizon), "regressed": fn(regressed).summary(horizon)}
        if share == SHARES[0]:
            rows["c"] = {"healthy": sprt_times(healthy).summary(horizon), "regressed": sprt_times(regressed).summary(horizon)}
            for label, (n, k, c, _) in (("b1", b1), ("b2", b2)):
                rows[label] = {
                    "healthy": Result(fixed_window_times(window_counts(healthy, n), n, k, c, horizon)).summary(horizon),
                    "regressed": Result(fixed_window_times(window_counts(regressed, n), n, k, c, horizon)).summary(horizon),
                }
    return {
        "rows": rows,
        "b1": b1,
        "b2": b2,
        "seconds": time.perf_counter() - started,
        "runs": runs,
        "horizon": horizon,
        "seed": seed,
    }


def render(result: dict, command: str) -> str:
    rows, horizon, runs = result["rows"], result["horizon"], result["runs"]
    m = machine()
    se = math.sqrt(MAX_FALSE * (1 - MAX_FALSE) / runs)

    def line(label: str, key: str) -> str:
        h, r = rows[key]["healthy"], rows[key]["regressed"]
        return (
            f"| {label} | {h['rolled_back']:.2%} | {r['rolled_back']:.2%} | {r['mean']:.0f} | {r['p95']:.0f} |"
        )

    n1, k1, c1, _ = result["b1"]
    n2, k2, c2, _ = result["b2"]
    c_mean, c_p95 = rows["c"]["regressed"]["mean"], rows["c"]["regressed"]["p95"]
    b1_mean, b2_mean = rows["b1"]["regressed"]["mean"], rows["b2"]["regressed"]["mean"]
    out = [
        "## Rollout",
        "",
        "Candidate events until rollback (`bench/rollout_bench.py`). Baseline bad-event rate 5%; candidate 7%",
        f"(regressed) or 5% (healthy); each run watches up to {horizon:,} candidate events, the baseline serving the",
        f"rest of the traffic (the candidate's share `s`). {runs:,} healthy and {runs:,} regressed runs per share, one",
        f"run of the script (seed {result['seed']}); runs never rolled back count as {horizon:,} events. alpha = 0.01.",
        "",
        "| method | healthy runs rolled back | regressed runs rolled back | events to rollback, mean | p95 |",
        "| --- | --- | --- | --- | --- |",
        line("(c) Wald's SPRT, 5% vs 7%, baseline rate known", "c"),
        line(f"(b1) fixed window, N = {n1}, k = {k1}, threshold 6% (N, k tuned)", "b1"),
        line(f"(b2) fixed window, N = {n2}, k = {k2}, > {c2} bad per window (N, k, threshold tuned)", "b2"),
    ]
    for share in SHARES:
        out.append(line(f"(a) this controller, s = {share:.0%}", f"a@{share}"))
    for share in SHARES:
        out.append(line(f"(a) with the default prior (effect 0.3, width 0.25), s = {share:.0%}", f"a_default_prior@{share}"))
    out += [
        "",
        "Goals (mean events to rollback; p95 ratio in brackets):",
        "",
        "| share s | (a) vs (b1): need >= 2x fewer | (a) vs (b2) | (a) vs (c): need <= 1.5x | false rollbacks <= 1% |",
        "| --- | --- | --- | --- | --- |",
    ]
    for share in SHARES:
        a = rows[f"a@{share}"]
        a_mean, a_p95 = a["regressed"]["mean"], a["regressed"]["p95"]
        false = a["healthy"]["rolled_back"]
        out.append(
            f"| {share:.0%} | {b1_mean / a_mean:.2f}x fewer ({rows['b1']['regressed']['p95'] / a_p95:.2f}x) "
            f"{'met' if b1_mean / a_mean >= 2 else 'NOT met'} "
            f"| {b2_mean / a_mean:.2f}x fewer ({rows['b2']['regressed']['p95'] / a_p95:.2f}x) "
            f"{'(>= 2x)' if b2_mean / a_mean >= 2 else '(< 2x)'} "
            f"| {a_mean / c_mean:.2f}x ({a_p95 / c_p95:.2f}x) {'met' if a_mean / c_mean <= 1.5 else 'NOT met'} "
            f"| {false:.2%} {'met' if false <= MAX_FALSE else 'NOT met'} |"
        )
    out += [
        "",
        "How (a) is tuned: the e-value for a boolean metric is the conditional Poisson test of Lindon, Sanden &",
        "Shirikian (KDD 2022): given a bad event, it came from the candidate with probability",
        "`s*rho/(s*rho + 1 - s)`, `rho` the candidate/baseline rate ratio, so the baseline rate cancels. The",
        f"mixture prior over `rho` is normal on `log rho`, centred at `log(1 + effect)` with effect = {EFFECT:.1f} (the",
        f"regression the benchmark looks for: 7%/5%) and sd {WIDTH} on the log scale (`MetricSpec.effect`,",
        "`RolloutPlan.prior_width`), truncated to `rho > 1 + margin` (margin 0 here). The rows \"with the default",
        "prior\" show the cost of not knowing the effect. Rollback at e-value >= 1/alpha; Ville's inequality bounds",
        f"the false-rollback rate by alpha at any number of looks (Monte-Carlo standard error here: {se:.2%}).",
        "",
        "Reading the numbers honestly:",
        "",
        "- (c) knows the baseline rate exactly and uses only candidate events; (a) learns the baseline from its",
        "  traffic, which costs little when the baseline serves most requests (s = 2%, 10%) and about twice the",
        "  events at s = 50%, where the baseline is as uncertain as the candidate.",
        "- (a) and (c) are evaluated after every event; the controller looks once per `step`, so in production",
        "  add up to one step's worth of candidate events. (b) looks once per window by construction.",
        "- Fixed windows need a threshold; with one set halfway between the healthy and regressed rates (b1), as",
        "  Argo/Flagger analysis templates are written, they are slow; with the threshold tuned on calibration",
        "  runs (b2) they come closer. The goal is stated against (b1), the configuration the issue names.",
        "- The 2x is on the mean. On the 95th percentile the sequential tests' long right tail shows: a fixed",
        "  window that rolls back at its first check stops nearly every regressed run at exactly N events, so",
        "  its p95 is close to its mean, and (a)'s p95 advantage over (b1) is much smaller (ratios in brackets).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, numpy {m['numpy']}, scipy {m['scipy']}.",
        f"Command: `{command}` ({result['seconds']:.0f} s).",
        "",
    ]
    return "\n".join(out)


def write_section(path: Path, section: str) -> None:
    """Replace the ``## Rollout`` section of ``path`` (creating the file if needed), keeping the others."""
    replace_section(path, "Rollout", section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4000, help="healthy and regressed runs per share (>= 2000)")
    parser.add_argument("--horizon", type=int, default=20000, help="candidate events watched per run")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--write", type=Path, default=None, help="replace the Rollout section of this Markdown file")
    args = parser.parse_args(argv)
    result = run(args.runs, args.horizon, args.seed)
    command = "python bench/rollout_bench.py " + " ".join(argv if argv is not None else sys.argv[1:])
    section = render(result, command.strip())
    if args.write:
        write_section(args.write, section)
    sys.stdout.write(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
