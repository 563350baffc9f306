"""Candidate-vs-baseline comparisons, as per-unit win scores (win 1, tie 0.5, loss 0)
that :func:`alignment_ci.evals.stats.non_inferiority_test` (or the ``win_rate`` metric)
turns into a verdict.

Two comparisons, by what the candidate and the baseline have:

- policies: both policies answer the same held-out prompt; a judge reward model scores both
  answers; the higher reward wins (scores within ``tie_tolerance``, or identical answers,
  tie);
- reward models: on a held-out pair, the candidate wins when it orders the pair correctly
  and the baseline does not, loses in the opposite case, and ties when both are right or
  both wrong. The win rate is then ``0.5 + (acc_candidate - acc_baseline) / 2``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .stats import win_scores


def reward_model_win_scores(candidate_margins: Sequence[float], baseline_margins: Sequence[float]) -> np.ndarray:
    """Per held-out pair: 1 when only the candidate is right, 0 when only the baseline is,
    0.5 when both or neither are (a margin > 0 is right)."""
    c = (np.asarray(candidate_margins, dtype=float) > 0).astype(float)
    b = (np.asarray(baseline_margins, dtype=float) > 0).astype(float)
    return win_scores(c, b)


@dataclass
class PolicyComparison:
    """Both policies' answers to each prompt, the judge's rewards and the win scores."""

    prompts: list[str]
    candidate_responses: list[str]
    baseline_responses: list[str]
    candidate_rewards: np.ndarray
    baseline_rewards: np.ndarray
    scores: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)


def compare_policies(candidate: Any, baseline: Any, judge: Any, prompts: Sequence[str], *,
                     tie_tolerance: float = 1e-6, **generation: Any) -> PolicyComparison:
    """Generate with both policies (same decoding settings and seed), judge both answers.

    ``candidate``/``baseline`` are :class:`~alignment_ci.evals.generation.Policy` objects,
    ``judge`` a :class:`~alignment_ci.evals.scoring.RewardModel`.
    """
    prompts = list(prompts)
    cand = candidate.generate(prompts, **generation)
    base = baseline.generate(prompts, **generation)
    rc = judge.score(prompts, cand)
    rb = judge.score(prompts, base)
    scores = win_scores(rc, rb, tie_tolerance)
    same = np.array([c == b for c, b in zip(cand, base)], dtype=bool)
    scores[same] = 0.5
    return PolicyComparison(prompts, cand, base, rc, rb, scores, dict(generation, tie_tolerance=tie_tolerance))


def scores_by_row(rows: Sequence[Mapping[str, Any]], scores: Sequence[float]) -> dict[int, float]:
    """``{id(row): score}``, so the score of a row can be found from any slice holding it."""
    return {id(r): float(s) for r, s in zip(rows, scores)}
