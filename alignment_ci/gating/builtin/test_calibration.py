"""Calibration gate: expected calibration error of the candidate reward model.

On held-out pairs, the Bradley-Terry probability ``P(chosen ≻ rejected) = σ(r_c - r_r)``
is compared with what happened; each pair counts once in each orientation (``p`` with
label 1, ``1 - p`` with label 0), so over- and under-confidence both show. ECE uses
``gates.calibration.n_bins`` equal-width bins (Guo et al. 2017) and must be at most
``gates.calibration.max_ece``.
"""

from __future__ import annotations

import pytest

from alignment_ci.evals.metrics import load_metric
from alignment_ci.evals.scoring import both_orientations
from alignment_ci.gating import at_most


@pytest.mark.gate("calibration")
def test_expected_calibration_error(reward_model, held_out_pairs, gate_config, gate):
    settings = gate_config.calibration
    if not held_out_pairs:
        gate.inconclusive("the eval set has no preference pairs (rows with chosen and rejected)")
    probs, labels = both_orientations(reward_model.margins(held_out_pairs))
    res = load_metric("calibration_error").compute(predictions=probs.tolist(), references=labels.tolist(),
                                                    n_bins=settings.n_bins)
    gate.record(at_most(
        "expected calibration error of P(chosen ≻ rejected)", res["ece"], settings.max_ece,
        n=len(held_out_pairs), min_n=settings.min_n, count=f"{len(held_out_pairs)} held-out pairs",
        details={"mce": res["mce"], "n_bins": settings.n_bins, "bins": res["bins"]},
    ))
