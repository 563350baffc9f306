"""Reward model stage: TRL ``RewardTrainer``.

A scalar head (``AutoModelForSequenceClassification``, ``num_labels=1``) on the base
model, trained with the Bradley-Terry pairwise loss ``-log σ(r(x, y⁺) - r(x, y⁻))``
(Ouyang et al. 2022, eq. 1). Held-out metrics: pairwise accuracy (share of pairs with
``r(chosen) > r(rejected)``) and mean margin ``r(chosen) - r(rejected)``.
"""

from __future__ import annotations

from typing import Any

from .common import StageContext, StageOutput, last, pair_columns, quiet_transformers, score_texts


def pairwise_metrics(model: Any, tokenizer: Any, rows: list[dict[str, Any]]) -> dict[str, float]:
    """Held-out pairwise accuracy and mean margin, scoring ``prompt + response + eos`` as
    RewardTrainer trains on it."""
    if not rows:
        return {}
    eos = tokenizer.eos_token or ""
    chosen = score_texts(model, tokenizer, [r["prompt"] + r["chosen"] + eos for r in rows])
    rejected = score_texts(model, tokenizer, [r["prompt"] + r["rejected"] + eos for r in rows])
    diffs = [c - r for c, r in zip(chosen, rejected)]
    return {
        "accuracy": sum(d > 0 for d in diffs) / len(diffs),
        "margin": sum(diffs) / len(diffs),
    }


def train(ctx: StageContext) -> StageOutput:
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    p = ctx.params
    ref = ctx.base_ref()
    tokenizer = ctx.tokenizer(ref)
    ctx.seeded()  # the score head is initialised at random
    with quiet_transformers():  # "score.weight newly initialized" is the point of this stage
        model = AutoModelForSequenceClassification.from_pretrained(ref[0], revision=ref[1], num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id

    before = pairwise_metrics(model, tokenizer, ctx.eval_rows)
    args = RewardConfig(
        **ctx.config_kwargs(),
        max_length=p.max_length,
        center_rewards_coefficient=p.center_rewards_coefficient,
    )
    trainer = ctx.make_trainer(
        RewardTrainer,
        model=model,
        args=args,
        train_dataset=Dataset.from_list(pair_columns(ctx.train_rows)),
        eval_dataset=Dataset.from_list(pair_columns(ctx.eval_rows)) if args.eval_strategy != "no" else None,
        processing_class=tokenizer,
        peft_config=ctx.peft_config("SEQ_CLS"),
    )
    ctx.fit(trainer)
    after = pairwise_metrics(trainer.model, tokenizer, ctx.eval_rows)
    metrics = {
        "final_loss": last(ctx.callback.series("loss")),
        **{f"eval_{k}_start": v for k, v in before.items()},
        **{f"eval_{k}": v for k, v in after.items()},
    }
    return StageOutput(model=trainer.model, tokenizer=tokenizer, metrics=metrics, trainer=trainer)
