"""Direct preference optimization stage: TRL ``DPOTrainer`` (Rafailov et al. 2023).

Loss (sigmoid variant): ``-log σ(β[(log π(y⁺|x) - log π_ref(y⁺|x)) - (log π(y⁻|x) - log π_ref(y⁻|x))])``.
The implicit reward of a response is ``β (log π - log π_ref)``; held-out metrics are the
reward accuracy (share of pairs whose chosen reward is higher) and the mean reward
margin. Both are 0.5-ish and 0 at the start, when the policy equals the reference.
"""

from __future__ import annotations

from .common import StageContext, StageOutput, last, pair_columns


def train(ctx: StageContext) -> StageOutput:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    p = ctx.params
    ref = ctx.start_ref()
    tokenizer = ctx.tokenizer(ref)
    ctx.seeded()
    model = AutoModelForCausalLM.from_pretrained(ref[0], revision=ref[1])
    peft = ctx.peft_config("CAUSAL_LM")
    # With LoRA the reference is the adapter-free model; otherwise a frozen copy of the start.
    ref_model = None if peft is not None else AutoModelForCausalLM.from_pretrained(ref[0], revision=ref[1])
    args = DPOConfig(**ctx.config_kwargs(), max_length=p.max_length, beta=p.beta, loss_type=[p.loss_type])
    eval_dataset = Dataset.from_list(pair_columns(ctx.eval_rows)) if ctx.eval_rows else None
    trainer = ctx.make_trainer(
        DPOTrainer,
        model=model,
        ref_model=ref_model,
        args=args,
        train_dataset=Dataset.from_list(pair_columns(ctx.train_rows)),
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=peft,
    )
    metrics: dict[str, float] = {}
    if eval_dataset is not None and ctx.checkpoint_dir is None:
        start = trainer.evaluate()  # the policy equals the reference: margin 0, accuracy 0
        metrics["eval_reward_margin_start"] = start["eval_rewards/margins"]
    ctx.fit(trainer)
    metrics |= {
        "final_loss": last(ctx.callback.series("loss")),
        "reward_accuracy": last(ctx.callback.series("rewards/accuracies")),
        "reward_margin": last(ctx.callback.series("rewards/margins")),
    }
    if eval_dataset is not None:
        final = ctx.final_eval(trainer)
        metrics["eval_reward_accuracy"] = final["eval_rewards/accuracies"]
        metrics["eval_reward_margin"] = final["eval_rewards/margins"]
        metrics["eval_loss"] = final["eval_loss"]
    return StageOutput(model=trainer.model, tokenizer=tokenizer, metrics=metrics, trainer=trainer)
