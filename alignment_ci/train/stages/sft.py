"""Supervised fine-tuning stage: TRL ``SFTTrainer`` on prompt-completion pairs.

The completion is the chosen response, so the policy imitates what raters preferred;
the loss is the token-level cross-entropy of the completion only (the prompt is masked).
Held-out metric: the same loss on held-out items, before and after training.
"""

from __future__ import annotations

from typing import Any

from .common import StageContext, StageOutput, last


def completion_rows(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """``{prompt, completion}`` rows: SFT text = prompt + chosen."""
    return [{"prompt": r["prompt"], "completion": r["chosen"]} for r in rows]


def train(ctx: StageContext) -> StageOutput:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    p = ctx.params
    ref = ctx.base_ref()
    tokenizer = ctx.tokenizer(ref)
    ctx.seeded()
    model = AutoModelForCausalLM.from_pretrained(ref[0], revision=ref[1])
    args = SFTConfig(**ctx.config_kwargs(), max_length=p.max_length, completion_only_loss=True)
    eval_dataset = Dataset.from_list(completion_rows(ctx.eval_rows)) if ctx.eval_rows else None
    trainer = ctx.make_trainer(
        SFTTrainer,
        model=model,
        args=args,
        train_dataset=Dataset.from_list(completion_rows(ctx.train_rows)),
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=ctx.peft_config("CAUSAL_LM"),
    )
    metrics: dict[str, float] = {}
    if eval_dataset is not None and ctx.checkpoint_dir is None:
        metrics["eval_loss_start"] = trainer.evaluate()["eval_loss"]
    ctx.fit(trainer)
    metrics["final_loss"] = last(ctx.callback.series("loss"))
    if eval_dataset is not None:
        metrics["eval_loss"] = ctx.final_eval(trainer)["eval_loss"]
    return StageOutput(model=trainer.model, tokenizer=tokenizer, metrics=metrics, trainer=trainer)
