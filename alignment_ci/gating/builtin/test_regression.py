"""Regression gate: is the candidate reward model no worse than the baseline's, on every
critical slice? (The candidate *policy* against the baseline policy is the ``policy_winrate`` gate.)

Both reward models score the same held-out pairs (the eval set's rows with ``chosen`` and
``rejected``; by default the gold pairs). Each pair is right for a model when it scores the
chosen answer higher. Per slice (all pairs, then each value of each key in
``gates.regression.slice_keys`` with at least ``min_slice_n`` pairs):

- the accuracy difference ``Δ = candidate - baseline`` with Newcombe's paired interval at
  ``1 - 2·alpha`` (its lower end is the one-sided ``1 - alpha`` lower bound);
- McNemar's exact test on the discordant pairs (the pairs only one of the two gets right).

pass: the lower bound is above ``-margin`` (non-inferior), or no pair changed (both models
get exactly the same pairs right: nothing regressed); fail: ``Δ`` itself is below
``-margin``; inconclusive in between, or with fewer than ``min_n`` pairs. Requiring every
slice to pass is an intersection-union test, valid without a multiplicity correction.

The baseline is the production baseline unless ``--baseline`` names another. With none at
all (a first model) the gate is inconclusive with "first model: no baseline", unless
``gates.regression.baseline_required`` is false (then it passes, saying so).
"""

from __future__ import annotations

import numpy as np
import pytest

from alignment_ci.evals.stats import format_p, paired_accuracy
from alignment_ci.evals.winrate import scores_by_row
from alignment_ci.gating import Decision


def _decide(res, margin: float, min_n: int, alpha: float) -> Decision:
    bound = f"one-sided {1 - alpha:.0%} lower bound {res.interval[0]:+.3f}"
    accuracies = (f"accuracy {res.candidate_accuracy:.3f} vs {res.baseline_accuracy:.3f} "
                  f"(Δ {res.difference:+.3f})")
    changed = (f"{res.discordant} of {res.n} pairs changed: {res.candidate_only} now right, "
               f"{res.baseline_only} now wrong (McNemar exact {format_p(res.p_value)})")
    kwargs = dict(value=res.difference, threshold=-margin, interval=res.interval, n=res.n, details=res.to_dict())
    if res.n < min_n:
        return Decision("inconclusive", f"only {res.n} held-out pairs, at least {min_n} are needed", **kwargs)
    if res.discordant == 0:
        return Decision("pass", f"no pair changed: both reward models order the same {res.both_right} of {res.n} "
                        f"pairs correctly (accuracy {res.candidate_accuracy:.3f})", **kwargs)
    if res.interval[0] > -margin:
        return Decision("pass", f"candidate reward model no worse than the baseline: {accuracies}, {bound} above "
                        f"{-margin:+.3f}; {changed}", **kwargs)
    if res.difference < -margin:
        return Decision("fail", f"candidate reward model is worse than the baseline: {accuracies} is below "
                        f"{-margin:+.3f}; {changed}", **kwargs)
    return Decision("inconclusive", f"{accuracies} but the {bound} is not above {-margin:+.3f}; {changed}; "
                    "more data would decide", **kwargs)


@pytest.mark.gate("regression")
def test_reward_model_no_worse_than_baseline(candidate, baseline, held_out_pairs, slices, gate_config, gate):
    settings = gate_config.regression
    candidate_rm = candidate.require_reward_model()
    if not baseline.present:
        if not baseline.first_model:
            gate.inconclusive(f"no baseline: {baseline.problem}")
        if settings.baseline_required:
            gate.inconclusive(f"{baseline.problem}; or set gates.regression.baseline_required: false to merge a "
                              "first model without a comparison")
        gate.record(Decision("pass", f"{baseline.problem}; gates.regression.baseline_required is off"))
        return
    baseline_rm = baseline.require_reward_model()
    if not held_out_pairs:
        gate.inconclusive("the eval set has no held-out pairs (rows with chosen and rejected)")
    cand_right = candidate_rm.margins(held_out_pairs) > 0
    base_right = baseline_rm.margins(held_out_pairs) > 0
    index_of = scores_by_row(held_out_pairs, range(len(held_out_pairs)))
    ungated = {}
    for part, members in slices.items():
        idx = np.array([int(index_of[id(r)]) for r in members if id(r) in index_of], dtype=int)
        if part != "all" and len(idx) < settings.min_slice_n:
            ungated[part] = int(len(idx))
            continue
        res = paired_accuracy(cand_right[idx], base_right[idx], confidence=1 - 2 * settings.alpha)
        decision = _decide(res, settings.margin, settings.min_n if part == "all" else settings.min_slice_n,
                           settings.alpha)
        decision.details.update(slice=part, mode="reward_model", margin=settings.margin, alpha=settings.alpha,
                                candidate=candidate.source, baseline=baseline.source)
        gate.record(decision, part=part)
    if ungated and "all" in gate.records:
        gate.records["all"].details["ungated_slices"] = ungated
