"""What GRPO and RLOO share: prompts, the reward functions (the trained reward model via
TRL's ``reward_funcs=`` plus rule-based rewards), and the held-out mean-reward check.

The reward of a completion ``c`` to prompt ``p`` is ``Σ_i w_i f_i(p, c)`` — TRL's
``reward_weights`` sum — where the reward-model term scores the text ``p + c`` exactly
as TRL does (right padding, no special tokens added).
"""

from __future__ import annotations

from typing import Any

import torch

from ...errors import InputError
from .common import StageContext, StageOutput, last, score_texts
from .rules import RewardFn, rule_reward_fn

__all__ = ["RewardFn", "Rewards", "rule_reward_fn", "train_online"]


def unique_prompts(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["prompt"] for r in rows))


class Rewards:
    """The reward functions and weights of one online-RL stage, and a way to evaluate them."""

    def __init__(self, ctx: StageContext) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        p = ctx.params
        self.funcs: list[Any] = []
        self.weights: list[float] = []
        self.processing: list[Any] = []
        self.reward_model = None
        self.reward_tokenizer = None
        if p.use_reward_model:
            rm_dir = ctx.parent("reward")
            self.reward_model = AutoModelForSequenceClassification.from_pretrained(rm_dir, num_labels=1)
            self.reward_model.eval()
            self.reward_tokenizer = AutoTokenizer.from_pretrained(rm_dir)
            if self.reward_tokenizer.pad_token is None:
                self.reward_tokenizer.pad_token = self.reward_tokenizer.eos_token
            self.reward_model.config.pad_token_id = self.reward_tokenizer.pad_token_id
            self.funcs.append(self.reward_model)
            self.weights.append(p.reward_model_weight)
            self.processing.append(self.reward_tokenizer)
        for rule in p.rule_rewards:
            self.funcs.append(rule_reward_fn(rule))
            self.weights.append(rule.weight)
            self.processing.append(None)

    def total(self, prompts: list[str], completions: list[str]) -> tuple[list[float], list[float] | None]:
        """(weighted total reward, reward-model score or None) per completion."""
        totals = [0.0] * len(completions)
        rm_scores = None
        for func, weight in zip(self.funcs, self.weights):
            if func is self.reward_model:
                texts = [p + c for p, c in zip(prompts, completions)]
                scores = rm_scores = score_texts(self.reward_model, self.reward_tokenizer, texts)
            else:
                scores = func(prompts=prompts, completions=completions)
            totals = [t + weight * s for t, s in zip(totals, scores)]
        return totals, rm_scores


@torch.no_grad()
def sample_completions(model: Any, tokenizer: Any, prompts: list[str], *, n: int, max_new_tokens: int,
                       temperature: float, seed: int, batch_size: int = 32) -> tuple[list[str], list[str]]:
    """``n`` sampled completions per prompt (seeded; the caller's RNG state is untouched)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    expanded = [p for p in prompts for _ in range(n)]
    completions: list[str] = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for start in range(0, len(expanded), batch_size):
            batch = expanded[start : start + batch_size]
            enc = tokenizer(batch, return_tensors="pt", padding=True, padding_side="left",
                            add_special_tokens=False).to(device)
            out = model.generate(
                **enc,
                do_sample=True,
                temperature=temperature,
                top_k=0,
                top_p=1.0,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            completions.extend(tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True))
    model.train(was_training)
    return expanded, completions


def mean_reward(ctx: StageContext, rewards: Rewards, model: Any, tokenizer: Any, prompts: list[str]) -> dict[str, float]:
    """Mean total reward (and mean reward-model score) of the policy's samples on ``prompts``."""
    if not prompts:
        return {}
    p = ctx.params
    expanded, completions = sample_completions(
        model, tokenizer, prompts, n=p.num_generations, max_new_tokens=p.max_completion_length,
        temperature=p.temperature, seed=ctx.job.seed,
    )
    totals, rm_scores = rewards.total(expanded, completions)
    out = {"reward": sum(totals) / len(totals)}
    if rm_scores is not None:
        out["rm_reward"] = sum(rm_scores) / len(rm_scores)
    return out


def train_online(ctx: StageContext, trainer_cls: Any, config_cls: Any) -> StageOutput:
    """Train a policy with GRPOTrainer or RLOOTrainer (same constructor in TRL 1.16)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    p = ctx.params
    ref = ctx.start_ref()
    tokenizer = ctx.tokenizer(ref, padding_side="left")
    ctx.seeded()
    model = AutoModelForCausalLM.from_pretrained(ref[0], revision=ref[1])
    rewards = Rewards(ctx)

    budget = p.max_length - p.max_completion_length
    fits = [q for q in unique_prompts(ctx.train_rows) if len(tokenizer(q, add_special_tokens=False)["input_ids"]) <= budget]
    if not fits:
        raise InputError(
            f"training.{ctx.job.stage}: no prompt fits in max_length - max_completion_length = {budget} tokens; "
            "raise max_length or lower max_completion_length"
        )
    eval_prompts = (unique_prompts(ctx.eval_rows) or unique_prompts(ctx.train_rows))[: p.eval_prompts]

    before = mean_reward(ctx, rewards, model, tokenizer, eval_prompts)
    args = config_cls(
        **ctx.config_kwargs(with_eval=False),
        num_generations=p.num_generations,
        max_completion_length=p.max_completion_length,
        temperature=p.temperature,
        beta=p.beta,
        reward_weights=rewards.weights,
    )
    trainer = ctx.make_trainer(
        trainer_cls,
        model=model,
        reward_funcs=rewards.funcs,
        args=args,
        train_dataset=Dataset.from_list([{"prompt": q} for q in fits]),
        processing_class=tokenizer,
        reward_processing_classes=rewards.processing,
        peft_config=ctx.peft_config("CAUSAL_LM"),
    )
    ctx.fit(trainer)
    after = mean_reward(ctx, rewards, trainer.model, tokenizer, eval_prompts)
    train_reward = ctx.callback.series("reward")
    metrics = {
        "final_loss": last(ctx.callback.series("loss")),
        "train_reward_first": train_reward[0] if train_reward else float("nan"),
        "train_reward_last": last(train_reward),
        "kl": last(ctx.callback.series("kl")),
        "n_prompts": float(len(fits)),
        **{f"eval_{k}_start": v for k, v in before.items()},
        **{f"eval_{k}": v for k, v in after.items()},
    }
    return StageOutput(model=trainer.model, tokenizer=tokenizer, metrics=metrics, trainer=trainer)

