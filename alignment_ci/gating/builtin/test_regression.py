"""Regression gate: is the candidate no worse than the baseline, on every critical slice?

What is compared depends on what both sides have:

- policy mode (candidate and baseline both have a policy): each policy answers every
  held-out prompt of the eval set (``gates.regression.max_new_tokens``, greedy unless
  ``do_sample``, seeded by ``gate.seed``); the judge reward model (the candidate's, or the
  baseline's with ``judge: baseline``; the other when one is missing) scores both answers.
  A prompt is a win when the candidate's answer gets the higher reward, a tie when the
  rewards are within ``tie_tolerance`` or the answers are identical.
- reward-model mode (otherwise, when both have a reward model): on each held-out pair, a
  win is a pair the candidate RM orders correctly and the baseline RM does not, a loss the
  reverse, a tie when both or neither are right.

The win rate (ties count half) is tested per slice: all rows, then each value of each key
in ``gates.regression.slice_keys`` (dimension, sampling bucket, language, cohort) that has
at least ``min_slice_n`` rows. One-sided non-inferiority: H0 "worse than the baseline by
more than ``margin``" (win rate ≤ 0.5 - margin) must be rejected at ``alpha`` (the
one-sided lower confidence bound above 0.5 - margin): pass. A win rate below 0.5 - margin
fails; anything between is inconclusive. Requiring every slice to pass is an
intersection-union test, valid without a multiplicity correction.
"""

from __future__ import annotations

import pytest

from alignment_ci.evals.metrics import load_metric
from alignment_ci.evals.winrate import compare_policies, scores_by_row
from alignment_ci.gating import Decision


def _decide(part: str, res: dict, mode: str, min_n: int, confidence: float) -> Decision:
    counts = f"wins/ties/losses {res['wins']}/{res['ties']}/{res['losses']} on {res['n']} {mode}"
    bound = f"one-sided {confidence:.0%} lower bound {res['lower_bound']:.3f}"
    need = f"{res['null_value']:.3f} (margin {res['margin']:.2f})"
    kwargs = dict(value=res["win_rate"], threshold=res["null_value"], interval=(res["lower_bound"], 1.0),
                  n=res["n"], details={**res, "slice": part})
    if res["n"] < min_n:
        return Decision("inconclusive", f"only {res['n']} {mode}, at least {min_n} are needed", **kwargs)
    if res["non_inferior"]:
        return Decision("pass", f"candidate no worse than baseline: win rate {res['win_rate']:.3f} "
                        f"({counts}), {bound} above {need}, p = {res['p_value']:.3g}", **kwargs)
    if res["win_rate"] < res["null_value"]:
        return Decision("fail", f"candidate is worse than baseline by more than the margin: win rate "
                        f"{res['win_rate']:.3f} ({counts}) is below {need}, p = {res['p_value']:.3g}", **kwargs)
    return Decision("inconclusive", f"win rate {res['win_rate']:.3f} ({counts}) is above {need} but the "
                    f"{bound} is not; more data would decide", **kwargs)


@pytest.mark.gate("regression")
def test_no_regression_against_baseline(candidate, baseline, eval_set, slices, gate_config, gate):
    settings = gate_config.regression
    if not candidate.present:
        gate.inconclusive(f"no candidate: {candidate.problem}")
    if not baseline.present:
        if settings.baseline_required:
            gate.inconclusive(f"no baseline to compare against: {baseline.problem} "
                              "(or set gates.regression.baseline_required: false for a first model)")
        gate.record(Decision("pass", f"no baseline ({baseline.problem}); baseline_required is off"))
        return
    if candidate.policy is not None and baseline.policy is not None:
        mode, unit = "policy", "held-out prompts"
        judges = [candidate, baseline] if settings.judge == "candidate" else [baseline, candidate]
        judge_set = next((m for m in judges if m.reward_model is not None), None)
        if judge_set is None:
            gate.inconclusive("policy mode needs a judge reward model; neither candidate nor baseline has one")
        rows = list(eval_set)
        comparison = compare_policies(
            candidate.require_policy(), baseline.require_policy(), judge_set.require_reward_model(),
            [r["prompt"] for r in rows], tie_tolerance=settings.tie_tolerance,
            max_new_tokens=settings.max_new_tokens, do_sample=settings.do_sample,
            temperature=settings.temperature, seed=gate.seed,
        )
        predictions, references = comparison.candidate_rewards, comparison.baseline_rewards
        extra = {"judge": judge_set.role, "generation": comparison.settings}
    elif candidate.reward_model is not None and baseline.reward_model is not None:
        mode, unit = "reward_model", "held-out pairs"
        rows = [r for r in eval_set if r.get("chosen") and r.get("rejected")]
        if not rows:
            gate.inconclusive("reward-model mode needs held-out pairs; the eval set has no rows with chosen/rejected")
        cand, base = candidate.require_reward_model().margins(rows), baseline.require_reward_model().margins(rows)
        predictions, references = (cand > 0).astype(float), (base > 0).astype(float)
        extra = {"candidate_accuracy": float((cand > 0).mean()), "baseline_accuracy": float((base > 0).mean()),
                 "win": "a pair the candidate RM orders correctly and the baseline RM does not"}
    else:
        gate.inconclusive(f"nothing to compare: the candidate has {_has(candidate)}, the baseline has {_has(baseline)}")
    tolerance = settings.tie_tolerance if mode == "policy" else 0.0
    score_of = scores_by_row(rows, range(len(rows)))
    metric = load_metric("win_rate")
    ungated = {}
    for part, members in slices.items():
        idx = [int(score_of[id(r)]) for r in members if id(r) in score_of]
        if part != "all" and len(idx) < settings.min_slice_n:
            ungated[part] = len(idx)
            continue
        res = metric.compute(predictions=[float(predictions[i]) for i in idx],
                             references=[float(references[i]) for i in idx],
                             margin=settings.margin, alpha=settings.alpha, tie_tolerance=tolerance)
        decision = _decide(part, res, unit, settings.min_n if part == "all" else settings.min_slice_n,
                           1 - settings.alpha)
        decision.details.update(mode=mode, **extra)
        gate.record(decision, part=part)
    if ungated:
        # Slices below min_slice_n are listed on the overall result (recorded before them).
        gate.records["all"].details["ungated_slices"] = ungated


def _has(models) -> str:
    parts = [name for name, path in (("a reward model", models.reward_model), ("a policy", models.policy)) if path]
    return " and ".join(parts) or "nothing"
