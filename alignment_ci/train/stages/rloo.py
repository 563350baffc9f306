"""REINFORCE leave-one-out stage: TRL ``RLOOTrainer`` (Ahmadian et al. 2024; Kool et al. 2019).

Per prompt, ``num_generations`` completions are sampled; each completion's baseline is the
mean reward of the *other* completions of its prompt; with ``beta > 0`` the reward is
penalised by the KL to the starting policy.
"""

from __future__ import annotations

from .common import StageContext, StageOutput
from .online import train_online


def train(ctx: StageContext) -> StageOutput:
    from trl import RLOOConfig, RLOOTrainer

    return train_online(ctx, RLOOTrainer, RLOOConfig)
