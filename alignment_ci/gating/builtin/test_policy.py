"""Policy gates: the candidate policy judged on what it says.

policy_winrate: the candidate and the baseline policy answer every eval prompt
(``gates.policy_winrate.eval_set``, or ``--eval``; batched, decoding from ``gates.generation``,
seed ``gates.seed``). Two judges score both answers: the candidate's own reward model
(``candidate``) and an independent judge that is not the candidate's (``independent``: the
baseline's reward model, or ``gates.policy_winrate.judge``). Per judge and slice (all prompts,
then every value of ``gates.policy_winrate.slice_keys`` with at least ``min_slice_n`` prompts):
the win rate (ties half) with its one-sided ``1 - alpha`` lower bound, the sign test and
the Wilcoxon signed-rank test. pass: the lower bound reaches ``min_win_rate``; fail: the
win rate itself is below it; inconclusive in between, or with fewer than ``min_n``
prompts. Only the judges in ``gated_judges`` block. The prompts the candidate lost or won
most (by the independent judge) are stored side by side for the report.

policy_health: over the candidate's answers to the eval prompts, the share of empty
answers, the mean repeated n-gram share, distinct-2, the mean length against the baseline
policy's (when there is one) and the per-token KL estimate to the reference model (when
the stage has one), each against its ``gates.policy_health`` threshold.
"""

from __future__ import annotations

import pytest

from alignment_ci.evals.datasets import slice_rows
from alignment_ci.evals.policy_eval import (
    describe,
    judge_answers,
    paired_win_rate,
    resolve_judge_path,
    same_model,
    side_by_side,
)
from alignment_ci.evals.scoring import RewardModel
from alignment_ci.gating import Decision, Inconclusive, at_least


def _independent_judge(candidate, baseline, settings):
    """(label, loaded reward model, path) of the independent judge, or an inconclusive reason."""
    if settings.judge == "baseline":
        if baseline.reward_model is None:
            raise Inconclusive("no independent judge: the baseline has no reward model; set gates.policy_winrate.judge "
                               "to a reward-model directory")
        path, model = baseline.reward_model, None
    else:
        path, model = resolve_judge_path(settings.judge), None
    if same_model(path, candidate.reward_model):
        raise Inconclusive(f"the independent judge ({path}) is the candidate's own reward model; set "
                           "gates.policy_winrate.judge to another reward model")
    if settings.judge == "baseline":
        model = baseline.require_reward_model()
    else:
        model = RewardModel(path)
    return model, path


@pytest.mark.gate("policy_winrate")
def test_policy_winrate_of_the_candidate_policy_against_the_baseline(candidate, baseline, policy_eval_rows, candidate_answers,
                                           baseline_answers, gate_config, gate, policy_timings):
    settings = gate_config.policy_winrate
    if baseline.policy is None:
        gate.inconclusive(f"no baseline policy to compare against ({baseline.problem or baseline.source or 'none'})")
    judges, where, problems = {}, {}, []
    try:
        judges["independent"], where["independent"] = _independent_judge(candidate, baseline, settings)
    except Inconclusive as exc:
        problems.append(("independent", str(exc)))
    if candidate.reward_model is not None:
        judges["candidate"], where["candidate"] = candidate.require_reward_model(), candidate.reward_model
    else:
        problems.append(("candidate", "the candidate has no reward model to judge with"))
    rows = list(policy_eval_rows)
    with policy_timings.phase("scoring"):
        judged = judge_answers(rows, candidate_answers.texts, baseline_answers.texts, judges,
                               {k: str(v) for k, v in where.items()})
    with policy_timings.phase("statistics"):
        index = {id(r): i for i, r in enumerate(rows)}
        slices = slice_rows(rows, settings.slice_keys)
        slice_of = {}
        for part, members in slices.items():
            if part != "all":
                for r in members:
                    slice_of.setdefault(index[id(r)], part)
        identical = judged.identical
        for label in ("independent", "candidate"):
            gated = label in settings.gated_judges
            if label not in judges:
                reason = next(p for j, p in problems if j == label)
                gate.record(Decision("inconclusive" if gated else "skipped", reason), part=f"{label}/all")
                continue
            cand, base = judged.scores[label]
            ungated = {}
            for part, members in slices.items():
                idx = [index[id(r)] for r in members]
                if part != "all" and len(idx) < settings.min_slice_n:
                    ungated[part] = len(idx)
                    continue
                res = paired_win_rate(cand[idx], base[idx], identical=identical[idx],
                                      tie_tolerance=settings.tie_tolerance, alpha=settings.alpha)
                decision = at_least(
                    f"win rate by the {label} judge ({part})", res.win_rate, settings.min_win_rate, n=res.n,
                    min_n=settings.min_n if part == "all" else settings.min_slice_n,
                    interval=(res.lower_bound, res.upper_bound), count=describe(res),
                    details={**res.to_dict(), "slice": part, "judge": label, "judge_model": str(where[label]),
                             "mode": "policy"})
                if not gated and decision.outcome != "pass":
                    decision = Decision("skipped", f"reported only (not in gates.policy_winrate.gated_judges): "
                                        f"{decision.reason}", decision.value, decision.threshold, decision.interval,
                                        decision.n, decision.details)
                gate.record(decision, part=f"{label}/{part}")
            if ungated:
                gate.records[f"{label}/all"].details["ungated_slices"] = ungated
        primary = "independent" if "independent" in judges else next(iter(judges), None)
        if primary is not None:
            top = gate.records[f"{primary}/all"]
            top.details["examples"] = side_by_side(judged, primary, limit=settings.max_examples, slice_of=slice_of)
            top.details["judges"] = judged.judges
    top = gate.records.get("independent/all") or next(iter(gate.records.values()))
    top.details["timings"] = policy_timings.to_dict()


@pytest.mark.gate("policy_health")
def test_policy_health_no_collapse(policy_health_report, gate, policy_timings):
    for part, decision in policy_health_report.decisions.items():
        decision.details.update(stats=policy_health_report.stats)
        gate.record(decision, part=part)
    first = next(iter(gate.records.values()))
    first.details["degenerate_answers"] = policy_health_report.degenerate_examples
    if "length" not in policy_health_report.decisions:
        first.details["not_checked"] = ["length: no baseline policy to compare with"]
    first.details["timings"] = policy_timings.to_dict()
