"""Gold gate: the candidate reward model's pairwise accuracy on the gold set.

For every dimension of the gold set (and all pairs together when there are several), the
share of gold pairs where ``r(x, chosen) > r(x, rejected)``, with a Wilson interval at
``gates.confidence``. The gate passes when the interval's lower bound reaches
``gates.gold.min_accuracy``, fails when the accuracy itself is below it, and is
inconclusive with fewer than ``gates.gold.min_n`` pairs or when only the estimate clears
the threshold.
"""

from __future__ import annotations

import numpy as np
import pytest

from alignment_ci.evals.metrics import load_metric
from alignment_ci.evals.scoring import sigmoid
from alignment_ci.gating import at_least


@pytest.mark.gate("gold")
def test_gold_pairwise_accuracy(reward_model, gold_set, gate_config, gate):
    settings = gate_config.gold
    pairs = gold_set.pairs
    if not pairs:
        gate.inconclusive(f"the gold set is empty ({gold_set.source}): ingest batches with gold items "
                          "or pass --gold FILE")
    margins = reward_model.margins(pairs)
    dims = np.array([str(p.get("dimension", "unspecified")) for p in pairs])
    groups = {f"dimension={d}": np.flatnonzero(dims == d) for d in sorted(set(dims))} if settings.per_dimension else {}
    if len(groups) != 1:
        groups = {"all": np.arange(len(pairs)), **groups}
    accuracy = load_metric("pairwise_accuracy")
    for part, idx in groups.items():
        res = accuracy.compute(predictions=sigmoid(margins[idx]).tolist(), references=[1] * len(idx),
                               confidence=gate_config.confidence)
        wrong = int(res["n"] - res["correct"])
        gate.record(at_least(
            f"gold pairwise accuracy ({part})", res["accuracy"], settings.min_accuracy,
            n=res["n"], min_n=settings.min_n, interval=(res["ci_low"], res["ci_high"]),
            count=f"{res['correct']} of {res['n']} gold pairs right, {wrong} preferring the rejected answer",
            details={"mean_margin": float(margins[idx].mean()), "source": gold_set.source,
                     "confidence": gate_config.confidence},
        ), part=part)
