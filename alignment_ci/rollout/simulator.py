"""Traffic simulator: production event streams for tests, the demo and the benchmark.

Scenarios (:class:`Scenario`): a healthy candidate (:func:`healthy`), a regressed one
with an effect per event field (:func:`regressed`, e.g. ``{"thumbs_down": 1.4}`` for
40% more thumbs-down), and a delayed regression whose effects start at a given time
(:func:`delayed_regression`). :class:`TrafficSimulator` turns a scenario into events
that follow :mod:`alignment_ci.rollout.events`' schema, for a time window and a
router weight, reproducibly from a seed.

For the benchmark, :func:`simulate_bad_event_runs` draws many runs at once in a
compact form that is exact for the tests used there: per run, the candidate-event
index of each candidate bad event and the number of baseline bad events served
before it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

BASE_RATES: dict[str, float] = {
    "thumbs_down": 0.05,
    "thumbs_up": 0.15,
    "escalated": 0.03,
    "safety_flag": 0.005,
    "hallucination_flag": 0.02,
    "task_completed": 0.8,
    "tokens": 250.0,
}
"""Baseline probability of each boolean outcome, and the mean of ``tokens``."""

TOKENS_SHAPE = 4.0
"""Tokens per response are gamma-distributed with this shape (coefficient of variation 0.5)."""


@dataclass(frozen=True)
class Scenario:
    """How candidate traffic differs from the baseline.

    ``effects`` multiply the baseline's probability (booleans) or mean (``tokens``) for
    candidate events; events before ``regression_start`` (when set) behave as the
    baseline's.
    """

    name: str
    effects: dict[str, float] = field(default_factory=dict)
    regression_start: datetime | None = None
    base: dict[str, float] = field(default_factory=lambda: dict(BASE_RATES))

    def __post_init__(self) -> None:
        unknown = sorted(set(self.effects) - set(self.base))
        if unknown:
            raise ValueError(f"unknown event fields in effects: {unknown}; known: {sorted(self.base)}")


def healthy(**base: float) -> Scenario:
    """A candidate that behaves exactly as the baseline."""
    return Scenario("healthy", {}, None, {**BASE_RATES, **base})


def regressed(effects: dict[str, float], **base: float) -> Scenario:
    """A candidate worse from the start, by the given factor per field."""
    return Scenario("regressed", dict(effects), None, {**BASE_RATES, **base})


def delayed_regression(start: datetime, effects: dict[str, float], **base: float) -> Scenario:
    """A candidate that is healthy until ``start``, then regressed by ``effects``."""
    return Scenario("delayed_regression", dict(effects), start, {**BASE_RATES, **base})


def _seed_for(seed: int, start: datetime, end: datetime) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}|{start.isoformat()}|{end.isoformat()}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class TrafficSimulator:
    """Reproducible events for ``scenario``, ``events_per_minute`` of traffic in all."""

    def __init__(
        self,
        scenario: Scenario,
        baseline_version: str = "model-baseline",
        candidate_version: str = "model-candidate",
        events_per_minute: float = 1000.0,
        seed: int = 0,
    ) -> None:
        self.scenario = scenario
        self.baseline_version = baseline_version
        self.candidate_version = candidate_version
        self.events_per_minute = events_per_minute
        self.seed = seed

    def emit(self, start: datetime, end: datetime, candidate_percent: float) -> list[dict[str, Any]]:
        """Events served in ``[start, end)`` while the candidate has ``candidate_percent`` of traffic."""
        rng = _seed_for(self.seed, start, end)
        seconds = (end - start).total_seconds()
        n = int(rng.poisson(self.events_per_minute * seconds / 60.0))
        offsets = np.sort(rng.random(n) * seconds)
        is_candidate = rng.random(n) < candidate_percent / 100.0
        times = [start + timedelta(seconds=float(o)) for o in offsets]
        regressed_now = is_candidate.copy()
        if self.scenario.regression_start is not None:
            regressed_now &= np.array([t >= self.scenario.regression_start for t in times], dtype=bool)

        def factor(name: str) -> np.ndarray:
            return np.where(regressed_now, self.scenario.effects.get(name, 1.0), 1.0)

        base = self.scenario.base
        p_down = np.clip(base["thumbs_down"] * factor("thumbs_down"), 0, 1)
        p_up = np.clip(base["thumbs_up"] * factor("thumbs_up"), 0, 1 - p_down)
        u = rng.random(n)
        thumbs = np.where(u < p_down, "down", np.where(u < p_down + p_up, "up", ""))
        flags = {
            name: rng.random(n) < np.clip(base[name] * factor(name), 0, 1)
            for name in ("escalated", "safety_flag", "hallucination_flag", "task_completed")
        }
        mean_tokens = base["tokens"] * factor("tokens")
        tokens = np.rint(rng.gamma(TOKENS_SHAPE, mean_tokens / TOKENS_SHAPE)).astype(int)
        tiers = rng.choice(np.array(["free", "pro", "enterprise"]), size=n, p=[0.6, 0.3, 0.1])
        tag = hashlib.sha256(f"{self.seed}|{start.isoformat()}".encode()).hexdigest()[:10]
        events = []
        for i in range(n):
            events.append(
                {
                    "timestamp": times[i].isoformat(),
                    "model_version": self.candidate_version if is_candidate[i] else self.baseline_version,
                    "request_id": f"req-{tag}-{i:06d}",
                    "thumbs": thumbs[i] or None,
                    "escalated": bool(flags["escalated"][i]),
                    "safety_flag": bool(flags["safety_flag"][i]),
                    "hallucination_flag": bool(flags["hallucination_flag"][i]),
                    "task_completed": bool(flags["task_completed"][i]),
                    "tokens": int(tokens[i]),
                    "customer_tier": str(tiers[i]),
                    "cohort": "canary" if is_candidate[i] else "control",
                }
            )
        return events


@dataclass
class BadEventRuns:
    """Many simulated runs in compact form (arrays of shape ``(runs, max_bad)``).

    ``position[r, i]``: the candidate-event index (1-based) of run ``r``'s ``i``-th
    candidate bad event, or ``horizon + 1`` past the horizon; ``baseline_bad[r, i]``:
    baseline bad events served before that candidate event.
    """

    position: np.ndarray
    baseline_bad: np.ndarray
    horizon: int


def simulate_bad_event_runs(
    runs: int,
    horizon: int,
    p_candidate: float,
    p_baseline: float,
    share: float,
    rng: np.random.Generator,
) -> BadEventRuns:
    """Draw ``runs`` streams of ``horizon`` candidate events with a ``share`` of all traffic.

    Candidate bad events are a Bernoulli(``p_candidate``) process (geometric gaps).
    Each request is a candidate one with probability ``share``; between two candidate
    events the baseline serves a geometric number of requests, of which the bad ones
    (probability ``p_baseline`` each) number ``NegBin(gap, share / (share + (1 - share) p_baseline))``
    over ``gap`` candidate events (baseline good events are irrelevant to the tests).
    """
    expected = horizon * p_candidate
    width = int(expected + 6 * np.sqrt(expected) + 20)
    gaps = rng.geometric(p_candidate, size=(runs, width))
    position = np.cumsum(gaps, axis=1)
    if share >= 1:
        baseline_bad = np.zeros_like(position)
    else:
        r = share / (share + (1 - share) * p_baseline)
        baseline_bad = np.cumsum(rng.negative_binomial(gaps, r), axis=1)
    position = np.where(position > horizon, horizon + 1, position)
    return BadEventRuns(position=position, baseline_bad=baseline_bad, horizon=horizon)
