"""PPO with a learned critic, on verl 0.9.1 (Ray; FSDP actor/critic; vLLM or SGLang rollouts).

TRL removed ``PPOTrainer``; verl is the engine teams use for PPO at scale. It needs GPUs
(its rollouts run on vLLM/SGLang, its workers on NCCL) and its own environment (verl pins
``transformers<5.11``), so this stage runs in the Modal image ``verl`` (or on a GPU
machine with verl installed) and is checked up to the GPU boundary elsewhere.

What the stage does, in order:

1. The aggregated preference pairs' unique prompts become verl's dataset (parquet):
   ``prompt`` as chat messages, ``data_source``, ``reward_model`` (style ``model``),
   ``extra_info`` (split, index, item id, the messages).
2. Working copies of the models: actor and KL reference = the SFT model (or the base);
   critic = the reward model (its scalar ``score`` head becomes the value head) or the
   policy; reward model = the reward stage's model. With ``prompt_format: plain`` each
   gets a pass-through chat template, so verl's chat-templated prompts and reward-model
   inputs are exactly the ``prompt + response`` text the TRL stages train on.
3. The verl configuration: this stage's settings as Hydra overrides of verl's own
   ``ppo_trainer`` config, composed and checked by ``verl.utils.config.validate_config``
   before any GPU work. The reward model is verl's model-based reward under
   ``reward.reward_model.*``; verl 0.9.1's ``main_ppo`` ignores the older top-level
   ``reward_model.*`` keys, so they are refused here. Rule rewards go through
   :mod:`.ppo_reward` (which also asks the reward-model server for its score).
4. ``python -m verl.trainer.main_ppo`` with checkpoints in the run's checkpoint
   directory (``trainer.resume_mode=auto``: a rerun resumes), metrics from verl's file
   logger; the final actor (saved as a Hugging Face model) is the stage's model.

Module top imports no torch and no verl: the converter, overrides and checks run in any
environment; :func:`compose_verl_config` and :func:`train` need verl.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ...errors import InputError
from ...lazy import heavy_module
from .launcher import follow, stop
from ..specs import StageJob

DATA_SOURCE = "alignment-ci"
PLAIN_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}{% endfor %}"
)
"""Messages concatenated as they are, the assistant turn closed by EOS: the text
``prompt + response + eos`` that TRL's RewardTrainer scores (and generation prompts
are the bare prompt, as in GRPO/RLOO)."""
LEGACY_PREFIXES = ("reward_model.", "custom_reward_function.", "sandbox_fusion.")
VERL_CONFIG_NAME = "ppo_trainer"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")


# ---------------------------------------------------------------- data


def prompt_messages(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


def verl_records(rows: list[dict[str, Any]], split: str) -> list[dict[str, Any]]:
    """One verl record per unique prompt of ``rows`` (first occurrence order)."""
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        prompt = row["prompt"]
        if prompt in seen:
            continue
        messages = prompt_messages(prompt)
        seen[prompt] = {
            "data_source": DATA_SOURCE,
            "prompt": messages,
            "ability": "alignment",
            "reward_model": {"style": "model", "ground_truth": ""},
            "extra_info": {
                "split": split,
                "index": len(seen),
                "item_id": str(row.get("item_id", "")),
                "dimension": str(row.get("dimension", "")),
                "messages": messages,
            },
        }
    return list(seen.values())


def write_parquet(records: list[dict[str, Any]], path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not records:
        raise InputError(f"no prompts for {path.name}: the dataset has no rows on that side of the split")
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


# ---------------------------------------------------------------- models


def check_reward_model_dir(path: Path) -> None:
    """The reward model verl serves must be a sequence classifier with one label and a
    tokenizer with a chat template (verl templates the conversation before scoring)."""
    path = Path(path)
    config_file = path / "config.json"
    if not config_file.is_file():
        raise InputError(f"reward model {path}: no config.json (not a saved Hugging Face model)")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    archs = config.get("architectures") or []
    if not any(a.endswith("ForSequenceClassification") for a in archs):
        raise InputError(f"reward model {path}: architectures {archs} has no *ForSequenceClassification; verl's "
                         "model-based reward needs a sequence classifier (the reward stage's model)")
    labels = len(config["id2label"]) if "id2label" in config else config.get("num_labels", 2)
    if labels != 1:
        raise InputError(f"reward model {path}: {labels} labels; a reward model has one scalar output (num_labels=1)")
    if not any((path / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "vocab.json")):
        raise InputError(f"reward model {path}: no tokenizer files")
    if not chat_template(path):
        raise InputError(f"reward model {path}: the tokenizer has no chat template; verl applies one to the "
                         "conversation before scoring (use prompt_format: plain to give it a pass-through one)")


def chat_template(model_dir: Path) -> str | None:
    """The chat template a tokenizer saved in ``model_dir`` carries (file or config key)."""
    jinja = Path(model_dir) / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8") or None
    cfg = Path(model_dir) / "tokenizer_config.json"
    if cfg.is_file():
        template = json.loads(cfg.read_text(encoding="utf-8")).get("chat_template")
        return template if isinstance(template, str) and template else None
    return None


def working_copy(src: Path, dst: Path, prompt_format: str) -> Path:
    """``src`` as ``dst``: weights linked (not copied), other files copied; with the
    ``plain`` prompt format the tokenizer's chat template is the pass-through one."""
    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.is_dir() or item.name.startswith("."):
            continue
        target = dst / item.name
        if item.suffix in WEIGHT_SUFFIXES:
            os.symlink(item.resolve(), target)
        else:
            shutil.copy2(item, target)
    if prompt_format == "plain":
        cfg = dst / "tokenizer_config.json"
        if cfg.is_file():
            data = json.loads(cfg.read_text(encoding="utf-8"))
            data.pop("chat_template", None)
            cfg.write_text(json.dumps(data, indent=2), encoding="utf-8")
        (dst / "chat_template.jinja").write_text(PLAIN_CHAT_TEMPLATE, encoding="utf-8")
    return dst


# ---------------------------------------------------------------- verl configuration


def gpu_count(job: StageJob) -> int:
    """GPUs of the one machine verl runs on: the Modal GPU count (``H100:4`` → 4)."""
    _, _, count = job.modal.gpu.partition(":")
    return int(count or 1)


def verl_overrides(
    job: StageJob,
    *,
    actor: Path,
    critic: Path,
    reward_model: Path | None,
    train_file: Path,
    val_file: Path,
    checkpoint_dir: Path,
    n_gpus: int,
    reward_spec: Path | None = None,
) -> list[str]:
    """This stage's settings as Hydra overrides of verl's ``ppo_trainer`` config.

    ``reward_spec``: where :func:`write_reward_spec` wrote the rule rewards (needed when
    the stage has any)."""
    p = job.params
    prompts_per_step = p.per_device_train_batch_size * p.gradient_accumulation_steps
    save_every = min(p.save_steps, p.max_steps) if p.max_steps > 0 else p.save_steps
    precision = "bfloat16" if p.bf16 is not False else "float32"
    checkpointing = "false" if p.gradient_checkpointing is False else "true"
    o: dict[str, Any] = {
        "algorithm.adv_estimator": "gae",
        "algorithm.gamma": p.gamma,
        "algorithm.lam": p.lam,
        "algorithm.use_kl_in_reward": p.kl_coef > 0,
        "algorithm.kl_penalty": "kl",
        "algorithm.kl_ctrl.type": "adaptive" if p.kl_target is not None else "fixed",
        "algorithm.kl_ctrl.kl_coef": p.kl_coef,
        "algorithm.kl_ctrl.target_kl": p.kl_target if p.kl_target is not None else 0.1,
        "data.train_files": str(train_file),
        "data.val_files": str(val_file),
        "data.prompt_key": "prompt",
        "data.train_batch_size": prompts_per_step,
        "data.max_prompt_length": p.max_length - p.max_completion_length,
        "data.max_response_length": p.max_completion_length,
        "data.filter_overlong_prompts": True,
        "data.truncation": "error",
        "data.seed": job.seed,
        "data.dataloader_num_workers": 0,
        "actor_rollout_ref.model.path": str(actor),
        "actor_rollout_ref.model.enable_gradient_checkpointing": checkpointing,
        # torch's SDPA attention: flash-attn needs a CUDA build matched to torch, which the
        # image does not compile; padding-free batches need flash-attn's varlen kernels.
        "actor_rollout_ref.model.use_remove_padding": False,
        "+actor_rollout_ref.model.override_config.attn_implementation": "sdpa",
        "actor_rollout_ref.actor.optim.lr": p.learning_rate,
        "actor_rollout_ref.actor.optim.lr_scheduler_type": p.lr_scheduler_type,
        "actor_rollout_ref.actor.optim.lr_warmup_steps": p.warmup_steps or -1,
        "actor_rollout_ref.actor.ppo_mini_batch_size": p.ppo_mini_batch_size,
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu": p.micro_batch_size_per_gpu,
        "actor_rollout_ref.actor.ppo_epochs": p.ppo_epochs,
        "actor_rollout_ref.actor.clip_ratio": p.clip_ratio,
        "actor_rollout_ref.actor.use_kl_loss": False,
        "actor_rollout_ref.actor.fsdp_config.param_offload": False,
        "actor_rollout_ref.actor.checkpoint.save_contents": "[model,optimizer,extra,hf_model]",
        "actor_rollout_ref.rollout.name": p.rollout_engine,
        "actor_rollout_ref.rollout.n": 1,
        "actor_rollout_ref.rollout.temperature": p.temperature,
        "actor_rollout_ref.rollout.tensor_model_parallel_size": 1,
        "actor_rollout_ref.rollout.gpu_memory_utilization": p.gpu_memory_utilization,
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu": p.micro_batch_size_per_gpu,
        "actor_rollout_ref.rollout.seed": job.seed,
        "actor_rollout_ref.rollout.dtype": precision,
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu": p.micro_batch_size_per_gpu,
        "critic.model.path": str(critic),
        "critic.model.enable_gradient_checkpointing": checkpointing,
        "critic.model.use_remove_padding": False,
        "+critic.model.override_config.attn_implementation": "sdpa",
        "critic.optim.lr": p.critic_learning_rate,
        "critic.ppo_micro_batch_size_per_gpu": p.micro_batch_size_per_gpu,
        "trainer.critic_warmup": 0,
        "trainer.logger": "[console,file]",
        "trainer.project_name": "alignment-ci",
        "trainer.experiment_name": "ppo",
        "trainer.n_gpus_per_node": n_gpus,
        "trainer.nnodes": 1,
        "trainer.total_training_steps": p.max_steps if p.max_steps > 0 else None,
        "trainer.total_epochs": max(1, int(p.num_train_epochs)) if p.max_steps <= 0 else 1000,
        "trainer.save_freq": save_every,
        # validate on the held-out prompts before training and at the end (or every eval_steps)
        "trainer.test_freq": (p.eval_steps or (p.max_steps if p.max_steps > 0 else 1)) if p.eval_prompts else -1,
        "trainer.val_before_train": p.eval_prompts > 0,
        "trainer.default_local_dir": str(checkpoint_dir),
        "trainer.resume_mode": "auto",
        "trainer.max_actor_ckpt_to_keep": 2,
        "trainer.max_critic_ckpt_to_keep": 2,
        "trainer.device": "cuda",
    }
    if reward_model is not None:
        o |= {
            "reward.reward_model.enable": True,
            "reward.reward_model.model_path": str(reward_model),
            "reward.reward_model.n_gpus_per_node": n_gpus,
            "reward.reward_model.rollout.name": p.rollout_engine,
            "reward.reward_model.rollout.tensor_model_parallel_size": 1,
            "reward.reward_model.rollout.gpu_memory_utilization": min(p.gpu_memory_utilization, 0.3),
            "reward.reward_model.rollout.dtype": precision,
            "reward.reward_model.rollout.prompt_length": p.max_length,
            "reward.reward_model.rollout.response_length": p.max_completion_length,
        }
    if p.rule_rewards:
        if reward_spec is None:
            raise ValueError("rule rewards need the reward spec file (write_reward_spec)")
        o |= {
            "reward.custom_reward_function.path": "pkg://alignment_ci.train.stages.ppo_reward",
            "reward.custom_reward_function.name": "compute_score",
            "+reward.custom_reward_function.reward_kwargs.spec": str(reward_spec),
        }
    elif reward_model is not None and p.reward_model_weight != 1.0:
        raise InputError("training.ppo.reward_model_weight other than 1 needs at least one rule reward (verl scores "
                         "the reward model alone unweighted)")
    return [f"{k}={_hydra_value(v)}" for k, v in o.items()]


def write_reward_spec(job: StageJob, reward_model: Path | None, path: Path) -> Path:
    """The rule rewards and reward-model settings :mod:`.ppo_reward` reads (verl passes the path)."""
    p = job.params
    spec = {
        "rules": [r.model_dump(mode="json") for r in p.rule_rewards],
        "rm_weight": p.reward_model_weight,
        "rm_model": str(reward_model) if reward_model is not None else None,
        "rm_engine": p.rollout_engine,
    }
    path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return path


def _hydra_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith("["):
        return value
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)


def check_overrides(overrides: list[str]) -> None:
    """Refuse keys verl 0.9.1 composes but ``main_ppo`` ignores (the pre-0.9 reward keys)."""
    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        if key.startswith(LEGACY_PREFIXES):
            raise InputError(
                f"verl override {key!r}: verl 0.9.1 composes the old top-level `{key.split('.')[0]}.*` keys but its "
                f"main_ppo ignores them; use `reward.{key}`"
            )


def compose_verl_config(overrides: list[str]) -> Any:
    """verl's own ``ppo_trainer`` config with ``overrides``, checked by verl's
    ``validate_config``; a misspelled key is an :class:`InputError` naming it. Needs verl."""
    check_overrides(overrides)
    try:
        import verl.trainer.config as verl_config_pkg
        from hydra import compose, initialize_config_dir
        from hydra.core.global_hydra import GlobalHydra
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException
        from verl.trainer.ppo.utils import need_critic, need_reference_policy
        from verl.utils.config import validate_config
    except ImportError as exc:
        raise InputError(f"the ppo stage needs verl 0.9.1 (`make verl-env`, or the Modal image `verl`): {exc}") from None
    config_dir = str(Path(verl_config_pkg.__file__).parent)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=config_dir, version_base=None):
            cfg = compose(config_name=VERL_CONFIG_NAME, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        raise InputError(f"verl rejects the ppo stage's configuration: {exc}") from None
    finally:
        GlobalHydra.instance().clear()
    try:
        validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    except (AssertionError, ValueError) as exc:
        raise InputError(f"verl's validate_config rejects the ppo stage's configuration: {exc}") from None
    return cfg


# ---------------------------------------------------------------- training


def require_local_runtime(device: str | None = None) -> None:
    """Raise :class:`InputError` unless verl and a CUDA GPU are here (checked before any
    parent stage trains, so a ppo run that cannot start here changes nothing)."""
    import importlib.util

    if importlib.util.find_spec("verl") is None:
        raise InputError(
            "the ppo stage runs on verl, which is not installed in this environment (it pins transformers<5.11, "
            "so it cannot share the TRL one): run it with --backend modal (image `verl`), or on a GPU machine "
            "in an environment with `pip install verl[vllm]==0.9.1`"
        )
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device != "cuda":
        raise InputError(
            "the ppo stage needs GPUs: verl has no CPU execution path (its rollouts run on vLLM or SGLang, its "
            "workers on NCCL); run it with --backend modal"
        )


def prepare(ctx, root: Path) -> tuple[list[str], Path]:  # noqa: ANN001
    """Data, model copies and the composed-and-validated overrides; returns (overrides, checkpoints)."""
    p = ctx.params
    actor_src = Path(ctx.start_ref()[0])
    reward_src = ctx.parent("reward") if (p.use_reward_model or p.critic_init == "reward") else None
    actor = working_copy(actor_src, root / "actor", p.prompt_format)
    reward_model = None
    if p.use_reward_model and reward_src is not None:
        reward_model = working_copy(reward_src, root / "reward", p.prompt_format)
        check_reward_model_dir(reward_model)
    critic_src = reward_src if p.critic_init == "reward" else actor_src
    critic = working_copy(critic_src, root / "critic", p.prompt_format)
    train_records = verl_records(ctx.train_rows, "train")
    val_records = verl_records(ctx.eval_rows or ctx.train_rows, "test")[: max(p.eval_prompts, 1)]
    train_file = write_parquet(train_records, root / "data" / "train.parquet")
    val_file = write_parquet(val_records, root / "data" / "val.parquet")
    checkpoints = ctx.checkpoint_dir or (root / "checkpoints")
    spec = write_reward_spec(ctx.job, reward_model, root / "reward-spec.json") if p.rule_rewards else None
    overrides = verl_overrides(
        ctx.job, actor=actor, critic=critic, reward_model=reward_model, train_file=train_file, val_file=val_file,
        checkpoint_dir=checkpoints, n_gpus=gpu_count(ctx.job), reward_spec=spec,
    )
    compose_verl_config(overrides)
    return overrides, checkpoints


def final_actor(checkpoints: Path) -> Path:
    """The Hugging Face actor of verl's latest checkpoint (``global_step_N/actor/huggingface``)."""
    marker = checkpoints / "latest_checkpointed_iteration.txt"
    if not marker.is_file():
        raise RuntimeError(f"verl wrote no checkpoint under {checkpoints}")
    step = marker.read_text(encoding="utf-8").strip()
    hf = checkpoints / f"global_step_{step}" / "actor" / "huggingface"
    if not any(hf.glob("*.safetensors")):
        raise RuntimeError(f"verl's checkpoint {hf} has no model weights (save_contents lacks hf_model?)")
    return hf


def metrics_entry(entry: dict[str, Any]) -> dict[str, float]:
    """One line of verl's file logger, ``{"step": n, "data": {...}}``, as a per-step record."""
    values = {k: float(v) for k, v in entry.get("data", {}).items() if isinstance(v, (int, float))}
    return {"step": float(entry["step"]), **values}


def summary_metrics(per_step: list[dict[str, float]]) -> dict[str, float]:
    """First/last mean reward, last KL, and the held-out reward verl validated with."""
    def series(key: str) -> list[float]:
        return [e[key] for e in per_step if key in e]

    out: dict[str, float] = {}
    for name, key in (("train_reward", "critic/rewards/mean"), ("train_score", "critic/score/mean")):
        values = series(key)
        if values:
            out[f"{name}_first"], out[f"{name}_last"] = values[0], values[-1]
    for name, key in (("kl", "actor/reward_kl_penalty"), ("value_loss", "critic/vf_loss"), ("policy_loss", "actor/pg_loss")):
        values = series(key)
        if values:
            out[name] = values[-1]
    val = [(e["step"], v) for e in per_step for k, v in e.items() if k.startswith("val-core/") and k.endswith("/mean@1")]
    if len(val) >= 2:
        out["eval_reward_start"] = val[0][1]
    if val:
        out["eval_reward"] = val[-1][1]
    return out


def train(ctx):  # noqa: ANN001, ANN201
    """Run verl's PPO trainer for this stage; the final actor is the stage's model."""
    import tempfile


    require_local_runtime(ctx.device)
    root = Path(tempfile.mkdtemp(prefix="ppo-", dir=ctx.work_dir))
    overrides, checkpoints = prepare(ctx, root)
    log_file = root / "metrics.jsonl"
    env = {**os.environ, "VERL_FILE_LOGGER_PATH": str(log_file), "TOKENIZERS_PARALLELISM": "false"}

    def on_step(entry: dict[str, Any]) -> None:  # live progress (and Modal's checkpoint commits)
        step = metrics_entry(entry)
        ctx.callback.per_step.append(step)
        if ctx.callback.progress is not None:
            ctx.callback.progress(int(step["step"]), ctx.params.max_steps, step)

    with open(root / "verl.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "verl.trainer.main_ppo", *overrides], stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)
        try:
            follow(proc, log_file, on_step, poll_s=2.0)
        except BaseException:
            stop(proc)
            raise
    if proc.returncode != 0:
        tail = (root / "verl.log").read_text(encoding="utf-8", errors="replace")[-4000:]
        raise RuntimeError(f"verl's main_ppo exited with status {proc.returncode}:\n{tail}")
    per_step = ctx.callback.per_step
    # stages.common imports torch at its top: loaded by name, so `import ...stages.ppo` stays light
    return heavy_module("stages.common").StageOutput(model=final_actor(checkpoints), tokenizer=None, metrics=summary_metrics(per_step))
