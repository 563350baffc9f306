"""An example of a repository's own gate (a shadow gate: reported, never blocking).

The candidate reward model's mean margin ``r(chosen) - r(rejected)`` on the gold pairs must
be positive: a reward model can clear the accuracy bar of the built-in ``gold`` gate by a
hair on every pair; this gate shows how wide its margins are. Copy it as a starting point:
fixtures come from the alignment-ci plugin, decisions from ``alignment_ci.gating``.
"""

from __future__ import annotations

import pytest

from alignment_ci.gating import Decision


@pytest.mark.gate("example_margin", blocking=False)
def test_mean_margin_is_positive(reward_model, gold_set, gate):
    if not gold_set.pairs:
        gate.inconclusive(f"the gold set is empty ({gold_set.source})")
    margins = reward_model.margins(gold_set.pairs)
    mean = float(margins.mean())
    outcome = "pass" if mean > 0 else "fail"
    gate.record(Decision(outcome, f"mean gold margin {mean:+.3f} over {len(margins)} gold pairs "
                         f"({'positive' if mean > 0 else 'not positive'})", value=mean, threshold=0.0,
                         n=len(margins)))
