"""Invariants in the style of TRL's tests/invariant: equivalent configurations give
equivalent loss curves.

Per-device batch 8 × accumulation 1 and batch 1 × accumulation 8 see the same 8
examples per optimizer step (same seeded sampler) and average the same per-example
losses, so in fp32 on CPU their per-step losses agree to rounding: tolerance 1e-4
absolute (measured: below 5e-7 for reward, SFT and DPO).
"""

from __future__ import annotations

import pytest

from alignment_ci.train.specs import TrainingSettings
from alignment_ci.train.stages import run_stage
from tests.train_support import one_thread, pairs, tiny_model  # noqa: F401 (fixtures)

TOLERANCE = 1e-4
STEPS = 4


def _loss_curve(stage, rows, base, out, batch, accumulation):
    extra = {"init_from": "base"} if stage == "dpo" else {}
    settings = TrainingSettings().with_stage(
        stage,
        max_steps=STEPS,
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=accumulation,
        eval_fraction=0.0,
        **extra,
    )
    result = run_stage(settings.job(stage), rows, out, {"base": base})
    return [e["loss"] for e in result.per_step if "loss" in e]


@pytest.mark.parametrize("stage", ["reward", "sft", "dpo"])
def test_batch_8x1_and_1x8_give_the_same_loss_curve(stage, pairs, tiny_model, tmp_path):
    big = _loss_curve(stage, pairs, tiny_model, tmp_path / "b8", 8, 1)
    small = _loss_curve(stage, pairs, tiny_model, tmp_path / "b1", 1, 8)
    assert len(big) == len(small) == STEPS
    assert max(abs(a - b) for a, b in zip(big, small)) < TOLERANCE
    assert big[-1] < big[0]  # and the curve is a training curve, not a constant


def test_a_different_seed_gives_a_different_curve(pairs, tiny_model, tmp_path):
    """The tolerance above is tight enough to tell genuinely different runs apart."""
    base = _loss_curve("reward", pairs, tiny_model, tmp_path / "s0", 8, 1)
    settings = TrainingSettings(seed=1).with_stage("reward", max_steps=STEPS, eval_fraction=0.0)
    other = [e["loss"] for e in run_stage(settings.job("reward"), pairs, tmp_path / "s1", {"base": tiny_model}).per_step
             if "loss" in e]
    assert max(abs(a - b) for a, b in zip(base, other)) > 100 * TOLERANCE
