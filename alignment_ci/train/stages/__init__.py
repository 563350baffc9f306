"""The training stages, behind one entry point, :func:`run_stage`: five on TRL, ``ppo`` on verl.

One module per stage (``reward``, ``sft``, ``dpo``, ``grpo``, ``rloo``, ``ppo``), each with a
``train(ctx) -> StageOutput`` function; ``common`` holds what they share. The registry
below names modules by string so importing this package does not import torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...lazy import heavy_module
from ..specs import StageJob

ProgressCallback = Callable[[int, int, dict[str, float]], None]
"""Called as ``callback(step, max_steps, logs)`` at every logging step."""

STAGE_MODULES: dict[str, str] = {
    "reward": "alignment_ci.train.stages.reward",
    "sft": "alignment_ci.train.stages.sft",
    "dpo": "alignment_ci.train.stages.dpo",
    "grpo": "alignment_ci.train.stages.grpo",
    "rloo": "alignment_ci.train.stages.rloo",
    "ppo": "alignment_ci.train.stages.ppo",
}


@dataclass
class StageResult:
    """What one stage produced: final metrics, the per-step log, and where the model is."""

    stage: str
    metrics: dict[str, float]
    per_step: list[dict[str, float]]
    model_dir: Path
    device: str
    wall_s: float
    resumed_from: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "metrics": self.metrics,
            "per_step": self.per_step,
            "model_dir": str(self.model_dir),
            "device": self.device,
            "wall_s": self.wall_s,
            "resumed_from": self.resumed_from,
            "extra": self.extra,
        }


def run_stage(
    job: StageJob,
    data: str | Path | Iterable[Mapping[str, Any]],
    output_dir: str | Path,
    parent_model_dirs: Mapping[str, str | Path] | None = None,
    progress_callback: ProgressCallback | None = None,
    *,
    checkpoint_dir: str | Path | None = None,
) -> StageResult:
    """Train one stage and write its model (safetensors, tokenizer, config) to ``output_dir``.

    ``data``: preference rows ``{prompt, chosen, rejected, weight?, item_id, dimension,
    batch_id}`` as a JSONL path, a list of such paths, or the rows themselves. The stage
    uses them as pairs (reward, dpo), as prompt + chosen (sft), or for their prompts
    (grpo, rloo); ``weight`` is carried for lineage but not used in the losses (TRL's
    trainers take no per-pair weight). ``parent_model_dirs`` names the models this stage starts from:
    ``base`` (optional; else ``job.base_model`` is loaded, ``tiny`` is built), ``sft``
    (dpo/grpo/rloo with ``init_from: sft``) and ``reward`` (grpo/rloo with the reward model).

    The model is written to a temporary sibling and renamed into ``output_dir`` at the
    end, so a crash leaves no half-written output. With ``checkpoint_dir``, checkpoints are
    saved every ``save_steps`` and a rerun resumes from the latest one there.
    """
    # Heavy modules (torch at their top, and they import this package): loaded by name.
    common = heavy_module("stages.common")
    module = importlib.import_module(STAGE_MODULES[job.stage])
    return common.execute(
        module.train,
        job,
        data,
        Path(output_dir),
        {k: Path(v) for k, v in (parent_model_dirs or {}).items()},
        progress_callback,
        Path(checkpoint_dir) if checkpoint_dir is not None else None,
    )


__all__ = ["STAGE_MODULES", "ProgressCallback", "StageResult", "run_stage"]
