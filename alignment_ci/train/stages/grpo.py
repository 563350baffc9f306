"""Group relative policy optimization stage: TRL ``GRPOTrainer`` (Shao et al. 2024, DeepSeekMath).

Per prompt, ``num_generations`` completions are sampled; each completion's advantage is
its reward minus the group mean (scaled by the group std); the policy gradient is clipped
as in PPO and, with ``beta > 0``, penalised by the KL to the starting policy.
"""

from __future__ import annotations

from .common import StageContext, StageOutput
from .online import train_online


def train(ctx: StageContext) -> StageOutput:
    from trl import GRPOConfig, GRPOTrainer

    return train_online(ctx, GRPOTrainer, GRPOConfig)
