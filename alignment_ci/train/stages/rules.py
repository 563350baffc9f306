"""Rule-based rewards, shared by the TRL online stages (GRPO, RLOO) and the verl PPO stage.

Imports no torch: verl's reward workers load it as well.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ...textsafety import find_pii
from ..specs import RuleReward

RewardFn = Callable[..., list[float]]


def rule_score(rule: RuleReward, completion: str) -> float:
    """One rule's reward for one completion (see :class:`~alignment_ci.train.specs.RuleReward`)."""
    if rule.kind == "regex":
        return 1.0 if re.search(rule.pattern or "", completion) else 0.0
    if rule.kind == "max_chars":
        return -1.0 if len(completion) > (rule.max_chars or 0) else 0.0
    return -1.0 if find_pii(completion) else 0.0


def rule_reward_fn(rule: RuleReward) -> RewardFn:
    """A TRL reward function ``f(prompts, completions, **kw) -> list[float]`` for one rule."""

    def reward(prompts: list[str], completions: list[str], **_: Any) -> list[float]:
        return [rule_score(rule, c) for c in completions]

    reward.__name__ = rule.name
    return reward
