"""Training job specs: the ``training:`` section of alignment.yaml.

One pydantic model per stage (``reward``, ``sft``, ``dpo``, ``grpo``, ``rloo``, ``ppo``); the
help text of every field lives once, in its ``description``. :meth:`TrainingSettings.job`
resolves the shared defaults and one stage into a :class:`StageJob`, the single value a
backend needs to run that stage (and what a run cache hashes).

Stages chain: the reward model trains first from the base model; SFT starts from the
base model; DPO, GRPO and RLOO start from the SFT model (or the base model, with
``init_from: base``); GRPO and RLOO score completions with the trained reward model
(TRL's ``reward_funcs=``) plus optional rule-based rewards. PPO (with a critic) runs on
verl, not TRL, in its own environment and on GPUs only (:mod:`.stages.ppo`). TRL stages
run in one process per device (``distributed``; :mod:`.stages.launcher`).

This module imports no torch/transformers/trl, so the CLI's ``--help`` stays fast.
"""

from __future__ import annotations

import copy
import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

STAGES: tuple[str, ...] = ("reward", "sft", "dpo", "grpo", "rloo", "ppo")
StageName = Literal["reward", "sft", "dpo", "grpo", "rloo", "ppo"]
TRL_STAGES: tuple[str, ...] = ("reward", "sft", "dpo", "grpo", "rloo")
"""Stages trained by TRL in this package's environment; ``ppo`` runs on verl in its own."""
Backend = Literal["local", "modal"]
AggregationMethod = Literal["majority", "weighted", "dawid-skene", "bradley-terry", "borda"]

_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_SNAPSHOT_RE = re.compile(r"^(latest|[0-9a-f]{12,64})$")
MODAL_GPU_TYPES = ("T4", "L4", "A10", "A10G", "L40S", "A100", "A100-40GB", "A100-80GB", "RTX-PRO-6000",
                   "H100", "H100!", "H200", "B200", "B200+")
"""GPU types Modal accepts for ``gpu=`` (https://modal.com/docs/guide/gpu), case-insensitive."""
_GPU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*[!+]?(:[1-9][0-9]?)?$")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def is_local_model_ref(ref: str) -> bool:
    """True for ``tiny`` and for paths (``/…``, ``./…``, ``../…``, ``~…``); anything else is a hub id."""
    return ref == "tiny" or ref.startswith(("/", "./", "../", "~"))


class DatasetRef(_Spec):
    """Which dataset snapshot and which aggregation method produce the training pairs."""

    snapshot: str = Field(
        "latest",
        description="Dataset snapshot: `latest`, or the hex content hash of a stored snapshot (12-64 characters).",
    )
    aggregation: AggregationMethod = Field(
        "dawid-skene",
        description="Aggregation method that turns judgments into pairs: majority, weighted, dawid-skene, "
        "bradley-terry or borda.",
    )

    @field_validator("snapshot")
    @classmethod
    def _snapshot(cls, v: str) -> str:
        if not _SNAPSHOT_RE.match(v):
            raise ValueError(f"snapshot must be `latest` or a lower-case hex hash (12-64 characters), got {v!r}")
        return v


class LoraSettings(_Spec):
    """Low-rank adapters (needs the `peft` package at training time)."""

    enabled: bool = Field(False, description="Train LoRA adapters instead of all weights; merged into the saved model.")
    r: int = Field(8, ge=1, description="LoRA rank.")
    alpha: int = Field(16, ge=1, description="LoRA scaling numerator (lora_alpha).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA branch.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        min_length=1,
        description="Module names that get adapters (Llama-style attention projections by default).",
    )


class ModalSettings(_Spec):
    """The Modal GPU backend."""

    gpu: str = Field("H100", description="Modal GPU spec, e.g. `H100`, `A100-80GB`, or `A100-80GB:4` for four.")
    timeout_s: int = Field(3600, ge=60, le=86400, description="Wall-clock limit of one training call, in seconds.")
    retries: int = Field(1, ge=0, le=10, description="Retries of a failed call (it resumes from the last checkpoint).")

    @field_validator("gpu")
    @classmethod
    def _gpu(cls, v: str) -> str:
        if not _GPU_RE.match(v):
            raise ValueError(f"gpu must look like `H100` or `A100-80GB:4`, got {v!r}")
        kind, _, count = v.partition(":")
        if kind.upper() not in MODAL_GPU_TYPES:
            import difflib

            close = difflib.get_close_matches(kind.upper(), MODAL_GPU_TYPES, n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            raise ValueError(f"gpu {kind!r} is not a Modal GPU type{hint}: use one of {', '.join(MODAL_GPU_TYPES)} "
                             "(https://modal.com/docs/guide/gpu)")
        limit = 4 if kind.upper() in ("A10", "A10G") else 8
        if count and int(count) > limit:
            raise ValueError(f"gpu {v!r}: Modal attaches at most {limit} {kind} GPUs to one container")
        return v


class DistributedSettings(_Spec):
    """How many processes train one TRL stage, and how they share the model.

    Several processes (one per device) start under ``accelerate launch`` (``torchrun`` with
    the gloo backend on a CPU). The global batch of one optimizer step stays
    ``per_device_train_batch_size × gradient_accumulation_steps`` as configured: with N
    processes the launcher divides the accumulation steps by N (or, when they do not
    divide, the per-device batch), so the same run key trains the same thing however it
    is launched. Not part of the run key.
    """

    processes: int | Literal["auto"] = Field(
        "auto",
        description="Training processes: `auto` = one per visible GPU (so `A100-80GB:4` on Modal gives 4; a CPU "
        "machine gives 1), or a number (on a CPU, N processes share the cores through gloo).",
    )
    strategy: Literal["ddp", "fsdp", "deepspeed"] = Field(
        "ddp",
        description="With several processes: `ddp` (each holds the whole model; gradients all-reduced), `fsdp` (fully "
        "sharded parameters, gradients and optimizer state; torch FSDP through accelerate) or `deepspeed` (ZeRO; "
        "needs the `deepspeed` package, which the Modal image has).",
    )
    zero_stage: Literal[1, 2, 3] = Field(2, description="DeepSpeed ZeRO stage, for `strategy: deepspeed`.")

    @field_validator("processes")
    @classmethod
    def _processes(cls, v: int | str) -> int | str:
        if isinstance(v, int) and not 1 <= v <= 64:
            raise ValueError(f"processes must be `auto` or 1..64, got {v}")
        return v


class StageSettings(_Spec):
    """Settings every stage has. Defaults train the tiny model in seconds on a CPU."""

    backend: Backend | None = Field(None, description="Override `training.backend` for this stage.")
    dataset: DatasetRef | None = Field(None, description="Override `training.dataset` for this stage.")
    learning_rate: float = Field(1e-3, gt=0, description="Peak learning rate (AdamW).")
    max_steps: int = Field(30, description="Optimizer steps to run; -1 runs `num_train_epochs` epochs instead.")
    num_train_epochs: float = Field(1.0, gt=0, description="Epochs over the training split, used when max_steps is -1.")
    per_device_train_batch_size: int = Field(8, ge=1, description="Examples per device per forward pass.")
    gradient_accumulation_steps: int = Field(1, ge=1, description="Forward passes accumulated into one optimizer step.")
    max_length: int = Field(128, ge=8, description="Longest tokenized sequence, prompt + response: SFT and DPO "
                            "truncate longer ones, the reward stage drops such pairs, GRPO/RLOO drop prompts that "
                            "leave no room for max_completion_length.")
    lr_scheduler_type: Literal["linear", "constant", "cosine"] = Field("linear", description="Learning-rate schedule.")
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up steps.")
    logging_steps: int = Field(1, ge=1, description="Log metrics every this many optimizer steps.")
    eval_fraction: float = Field(0.2, ge=0, lt=1, description="Share of items held out for evaluation "
                                 "(split by item_id, so one item never sits on both sides).")
    eval_steps: int | None = Field(None, ge=1, description="Evaluate on the held-out split every this many steps; "
                                   "null evaluates only at the end.")
    save_steps: int = Field(500, ge=1, description="Checkpoint interval in steps (transformers' default), when a checkpoint directory is given; a rerun resumes from the latest.")
    bf16: bool | None = Field(None, description="bf16 mixed precision; null = on when the GPU supports it, off on CPU.")
    gradient_checkpointing: bool | None = Field(None, description="Recompute activations to save memory; null = on on "
                                                "GPU, off on CPU (where it only slows training).")
    lora: LoraSettings = Field(default_factory=LoraSettings, description="LoRA adapters.")

    @field_validator("max_steps")
    @classmethod
    def _steps(cls, v: int) -> int:
        if v == 0 or v < -1:
            raise ValueError("max_steps must be a positive number of steps, or -1 to train by epochs")
        return v


def _default(name: str, value: Any, base: type[BaseModel] = StageSettings) -> Any:
    """``base``'s field ``name`` (help text and bounds kept, so they are written once) with another default."""
    field = copy.copy(base.model_fields[name])
    field.default = value
    return field


class RewardStage(StageSettings):
    """Reward model (TRL RewardTrainer): a scalar head on the base model, Bradley-Terry loss on pairs."""

    stage: Literal["reward"] = Field("reward", description="Stage name (fixed).")
    center_rewards_coefficient: float | None = Field(
        None, ge=0, description="Push mean rewards towards zero (Eisenstein et al. 2023, eq. 2); 0.01 is typical."
    )


class SFTStage(StageSettings):
    """Supervised fine-tuning (TRL SFTTrainer) on prompt + chosen response; loss on the response only."""

    stage: Literal["sft"] = Field("sft", description="Stage name (fixed).")
    learning_rate: float = _default("learning_rate", 5e-3)
    max_steps: int = _default("max_steps", 60)


class DPOStage(StageSettings):
    """Direct preference optimization (TRL DPOTrainer, Rafailov et al. 2023)."""

    stage: Literal["dpo"] = Field("dpo", description="Stage name (fixed).")
    init_from: Literal["base", "sft"] = Field("sft", description="Start (and reference) model: the SFT model or the base.")
    beta: float = Field(0.1, gt=0, description="DPO temperature: how far the policy may move from the reference.")
    loss_type: Literal["sigmoid", "hinge", "ipo"] = Field("sigmoid", description="DPO loss variant.")
    learning_rate: float = _default("learning_rate", 5e-4)


class RuleReward(_Spec):
    """A rule-based reward added to the reward model's score (weights are TRL `reward_weights`)."""

    kind: Literal["regex", "max_chars", "no_pii"] = Field(
        description="`regex`: 1 when the completion matches `pattern`, else 0; `max_chars`: -1 when the completion "
        "is longer than `max_chars`, else 0; `no_pii`: -1 when the completion contains an e-mail or phone number."
    )
    weight: float = Field(1.0, description="Multiplier of this reward in the sum.")
    pattern: str | None = Field(None, description="Regular expression, for `regex`.")
    max_chars: int | None = Field(None, ge=1, description="Length limit, for `max_chars`.")

    @model_validator(mode="after")
    def _args(self) -> "RuleReward":
        if self.kind == "regex":
            if not self.pattern:
                raise ValueError("a `regex` rule reward needs `pattern`")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r} is not a valid regular expression: {exc}") from None
        if self.kind == "max_chars" and self.max_chars is None:
            raise ValueError("a `max_chars` rule reward needs `max_chars`")
        return self

    @property
    def name(self) -> str:
        return f"rule_{self.kind}"


class OnlineRLStage(StageSettings):
    """Settings shared by the online-RL stages (GRPO and RLOO, PPO's supported successors in TRL)."""

    init_from: Literal["base", "sft"] = Field("sft", description="Policy to start from: the SFT model or the base.")
    learning_rate: float = _default("learning_rate", 3e-3)
    max_steps: int = _default("max_steps", 20)
    per_device_train_batch_size: int = _default("per_device_train_batch_size", 16)
    num_generations: int = Field(4, ge=2, description="Completions sampled per prompt (the group size).")
    max_completion_length: int = Field(10, ge=1, description="Longest generated completion, in tokens.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of the policy's generations.")
    beta: float = Field(0.04, ge=0, description="KL penalty coefficient against the starting policy (0 = no reference "
                        "model and no KL metric).")
    use_reward_model: bool = Field(True, description="Score completions with the trained reward model.")
    reward_model_weight: float = Field(1.0, description="Multiplier of the reward model's score.")
    rule_rewards: list[RuleReward] = Field(default_factory=list, description="Rule-based rewards added to the score.")
    eval_prompts: int = Field(32, ge=0, description="Held-out prompts scored before and after training (mean reward).")

    @model_validator(mode="after")
    def _groups(self) -> "OnlineRLStage":
        if not self.use_reward_model and not self.rule_rewards:
            raise ValueError("no reward: set use_reward_model: true or list at least one rule_rewards entry")
        generation_batch = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if generation_batch % self.num_generations:
            raise ValueError(
                f"per_device_train_batch_size × gradient_accumulation_steps ({generation_batch}) must be a multiple "
                f"of num_generations ({self.num_generations}): each batch holds whole groups of completions"
            )
        return self


class GRPOStage(OnlineRLStage):
    """Group relative policy optimization (TRL GRPOTrainer, Shao et al. 2024)."""

    stage: Literal["grpo"] = Field("grpo", description="Stage name (fixed).")


class RLOOStage(OnlineRLStage):
    """REINFORCE leave-one-out (TRL RLOOTrainer, Ahmadian et al. 2024)."""

    stage: Literal["rloo"] = Field("rloo", description="Stage name (fixed).")
    beta: float = _default("beta", 0.05, OnlineRLStage)


class PPOStage(StageSettings):
    """PPO with a learned critic on verl (Ouyang et al. 2022; Schulman et al. 2017): GPU-only.

    The policy starts from the SFT model; rewards come from the trained reward model
    (verl's model-based reward, ``reward.reward_model.*``) plus optional rule rewards;
    the per-token KL to the SFT reference is subtracted from the reward
    (``algorithm.use_kl_in_reward``); advantages by GAE from the critic's values. Runs on
    verl in its own environment (Modal image ``verl``), on 1-8 GPUs of one machine.
    ``per_device_train_batch_size × gradient_accumulation_steps`` is the number of prompts
    per PPO step (verl's ``data.train_batch_size``); ``max_length`` is prompt + response.
    """

    stage: Literal["ppo"] = Field("ppo", description="Stage name (fixed).")
    init_from: Literal["base", "sft"] = Field("sft", description="Policy and KL reference: the SFT model or the base.")
    critic_init: Literal["reward", "policy"] = Field(
        "reward", description="Initialise the critic (value model) from the reward model (its scalar head becomes "
        "the value head) or from the starting policy (a fresh value head)."
    )
    learning_rate: float = _default("learning_rate", 1e-6)
    critic_learning_rate: float = Field(1e-5, gt=0, description="Critic learning rate.")
    max_steps: int = _default("max_steps", 20)
    per_device_train_batch_size: int = _default("per_device_train_batch_size", 64)
    ppo_mini_batch_size: int = Field(16, ge=1, description="Prompts per PPO update within a step (verl's "
                                     "ppo_mini_batch_size); a step's batch is split into these.")
    micro_batch_size_per_gpu: int = Field(4, ge=1, description="Sequences per forward pass on one GPU.")
    ppo_epochs: int = Field(1, ge=1, description="Passes over each step's rollouts.")
    clip_ratio: float = Field(0.2, gt=0, lt=1, description="PPO clipping range of the probability ratio.")
    max_completion_length: int = Field(64, ge=1, description="Longest generated response, in tokens.")
    max_length: int = _default("max_length", 256)
    lr_scheduler_type: Literal["linear", "constant", "cosine"] = _default("lr_scheduler_type", "constant")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of the rollouts.")
    kl_coef: float = Field(0.05, ge=0, description="Coefficient of the per-token KL penalty to the reference, "
                           "subtracted from the reward.")
    kl_target: float | None = Field(None, gt=0, description="Adaptive KL controller target; null keeps kl_coef fixed.")
    gamma: float = Field(1.0, gt=0, le=1, description="GAE discount.")
    lam: float = Field(0.95, ge=0, le=1, description="GAE lambda.")
    use_reward_model: bool = Field(True, description="Score responses with the trained reward model.")
    reward_model_weight: float = Field(1.0, description="Multiplier of the reward model's score.")
    rule_rewards: list[RuleReward] = Field(default_factory=list, description="Rule-based rewards added to the score.")
    prompt_format: Literal["plain", "chat"] = Field(
        "plain", description="`plain`: prompts and responses are concatenated text, as the TRL stages train on "
        "(the models get a pass-through chat template); `chat`: the model's own chat template."
    )
    rollout_engine: Literal["vllm", "sglang"] = Field("vllm", description="verl's rollout (and reward-model) server.")
    gpu_memory_utilization: float = Field(0.4, gt=0, lt=1, description="Share of GPU memory the rollout engine takes.")
    eval_prompts: int = Field(32, ge=0, description="Held-out prompts in verl's validation set.")

    @model_validator(mode="after")
    def _consistent(self) -> "PPOStage":
        if not self.use_reward_model and not self.rule_rewards:
            raise ValueError("no reward: set use_reward_model: true or list at least one rule_rewards entry")
        if self.critic_init == "reward" and not self.use_reward_model:
            raise ValueError("critic_init: reward needs the reward model (use_reward_model: true), or use critic_init: policy")
        if self.max_completion_length >= self.max_length:
            raise ValueError(f"max_completion_length ({self.max_completion_length}) must be below max_length "
                             f"({self.max_length}): the prompt needs room")
        prompts = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if prompts % self.ppo_mini_batch_size:
            raise ValueError(f"the prompts per step ({prompts}) must be a multiple of ppo_mini_batch_size "
                             f"({self.ppo_mini_batch_size})")
        if self.lr_scheduler_type == "linear":
            raise ValueError("verl schedules the learning rate `constant` or `cosine`, not `linear`")
        if self.lora.enabled:
            raise ValueError("the ppo stage trains all weights (LoRA on verl is not wired up); set lora.enabled: false")
        return self


StageSpec = Annotated[
    Union[RewardStage, SFTStage, DPOStage, GRPOStage, RLOOStage, PPOStage], Field(discriminator="stage")
]


class StageJob(_Spec):
    """One stage, fully resolved: everything a backend needs to run it, and what a run cache hashes."""

    backend: Backend = Field(description="Where the stage runs.")
    base_model: str = Field(description="HF model id, local path, or `tiny`.")
    base_revision: str | None = Field(description="Pinned commit of a hub base model.")
    seed: int = Field(description="Seed of data splits, initialisation and sampling.")
    dataset: DatasetRef = Field(description="Dataset snapshot and aggregation method.")
    modal: ModalSettings = Field(description="Modal settings, used when backend is `modal`.")
    distributed: DistributedSettings = Field(
        default_factory=DistributedSettings, description="Processes per TRL stage (not part of the run key)."
    )
    params: StageSpec = Field(description="The stage's own settings.")

    @property
    def stage(self) -> str:
        return self.params.stage


class TrainingSettings(_Spec):
    """The ``training:`` section: shared defaults, then one block per stage."""

    backend: Backend = Field("local", description="Where training runs: `local` (this machine) or `modal` (Modal GPUs).")
    base_model: str = Field(
        "tiny",
        description="Base model: `tiny` (the offline tiny Llama), a local path starting with `/`, `./`, `../` or `~`, "
        "or a Hugging Face hub id (then `base_revision` is required).",
    )
    base_revision: str | None = Field(
        None, description="The 40-character commit hash a hub base model is pinned to (not a branch or tag)."
    )
    seed: int = Field(0, description="Seed of data splits, initialisation and sampling, for every stage.")
    dataset: DatasetRef = Field(default_factory=DatasetRef, description="Dataset snapshot and aggregation method.")
    pipeline: list[StageName] = Field(
        default_factory=lambda: ["reward", "sft", "dpo"], min_length=1,
        description="The stages `alignment-ci train` runs, in order, into one candidate (reward model, reference, "
        "policy), e.g. [reward, sft, dpo] or [reward, sft, grpo]; the gates judge the candidate as a whole.",
    )
    modal: ModalSettings = Field(default_factory=ModalSettings, description="Modal GPU backend settings.")
    distributed: DistributedSettings = Field(
        default_factory=DistributedSettings,
        description="How many processes train each TRL stage (one per GPU by default) and how they share the model.",
    )
    reward: RewardStage = Field(default_factory=RewardStage, description="Reward-model stage.")
    sft: SFTStage = Field(default_factory=SFTStage, description="Supervised fine-tuning stage.")
    dpo: DPOStage = Field(default_factory=DPOStage, description="DPO stage.")
    grpo: GRPOStage = Field(default_factory=GRPOStage, description="GRPO online-RL stage.")
    rloo: RLOOStage = Field(default_factory=RLOOStage, description="RLOO online-RL stage.")
    ppo: PPOStage = Field(default_factory=PPOStage, description="PPO stage with a critic, on verl (GPUs only).")

    @model_validator(mode="after")
    def _pinned(self) -> "TrainingSettings":
        if is_local_model_ref(self.base_model):
            if self.base_revision is not None:
                raise ValueError("base_revision applies only to hub ids; remove it for a local path or `tiny`")
        elif self.base_revision is None or not _SHA_RE.match(self.base_revision):
            raise ValueError(
                f"base_model {self.base_model!r} is a hub id, so base_revision must pin it to a 40-character commit "
                f"hash (got {self.base_revision!r}); copy it from the model page's 'Files and versions' history, or "
                "give a local path starting with ./ or /"
            )
        return self

    def job(self, stage: str) -> StageJob:
        """Resolve ``stage`` against the shared defaults into a :class:`StageJob`."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
        params = getattr(self, stage)
        return StageJob(
            backend=params.backend or self.backend,
            base_model=self.base_model,
            base_revision=self.base_revision,
            seed=self.seed,
            dataset=params.dataset or self.dataset,
            modal=self.modal,
            distributed=self.distributed,
            params=params,
        )

    def with_stage(self, stage: str, **changes: Any) -> "TrainingSettings":
        """A copy with some of ``stage``'s fields changed (validated)."""
        data = self.model_dump()
        data[stage].update(changes)
        return TrainingSettings.model_validate(data)
