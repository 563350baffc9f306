"""What the five stages share: input rows and the held-out split, device and precision
defaults for TRL configs, model loading, the per-step metrics callback, checkpoint
resume, and the atomic save of the final model.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from ...errors import InputError
from ...jsonl import read_objects
from .._fs import atomic_output_dir, refuse_existing_output
from ..hub import check_hub_model
from .launcher import process_count, run_distributed
from ..specs import StageJob, is_local_model_ref
from ..specs import TRL_STAGES
from ..tiny import build_tiny_model
from . import ProgressCallback, StageResult

PAIR_FIELDS: tuple[str, ...] = ("prompt", "chosen", "rejected")
STAGE_FILE = "alignment-ci-stage.json"


# ---------------------------------------------------------------- input rows


def read_rows(data: str | Path | Iterable[Any]) -> list[dict[str, Any]]:
    """Preference rows from a JSONL path, a list of paths, or the rows themselves.

    Every row needs non-empty string ``prompt``, ``chosen`` and ``rejected``; a bad row
    is an :class:`InputError` naming the file and its 1-based line.
    """
    if isinstance(data, (str, Path)):
        sources: list[Any] = [Path(data)]
    else:
        sources = list(data)
    rows: list[dict[str, Any]] = []
    for source in sources:
        if isinstance(source, (str, Path)):
            path = Path(source)
            for lineno, row in read_objects(path):
                rows.append(_check_row(row, f"{path}:{lineno}"))
        else:
            rows.append(_check_row(dict(source), f"row {len(rows) + 1}"))
    if not rows:
        raise InputError("no training pairs: the dataset is empty")
    return rows


def _check_row(row: Any, where: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise InputError(f"{where}: a training pair must be a JSON object")
    for name in PAIR_FIELDS:
        value = row.get(name)
        if not isinstance(value, str) or not value:
            raise InputError(f"{where}: field {name!r} must be a non-empty string (TRL preference format)")
    return row


def split_rows(rows: list[dict[str, Any]], eval_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Deterministic held-out split by ``item_id``: an item is never on both sides.

    Item ``i`` goes to the eval side when ``sha256(f"{seed}:{i}")`` read as a fraction
    of 2**64 is below ``eval_fraction``. With a positive fraction and at least two items,
    the eval side gets at least one item and the train side keeps at least one.
    """
    if eval_fraction <= 0:
        return list(rows), []
    ids = [str(r.get("item_id", f"#{n}")) for n, r in enumerate(rows)]
    unique = sorted(set(ids))
    draw = {i: int.from_bytes(hashlib.sha256(f"{seed}:{i}".encode()).digest()[:8], "big") / 2**64 for i in unique}
    held = {i for i in unique if draw[i] < eval_fraction}
    if len(unique) >= 2:
        if not held:
            held = {min(unique, key=draw.__getitem__)}
        if len(held) == len(unique):
            held.discard(max(unique, key=draw.__getitem__))
    train = [r for r, i in zip(rows, ids) if i not in held]
    held_out = [r for r, i in zip(rows, ids) if i in held]
    return train, held_out


def pair_columns(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{k: r[k] for k in PAIR_FIELDS} for r in rows]


# ---------------------------------------------------------------- device and configs


def detect_device() -> str:
    """``cuda`` when a CUDA GPU is visible, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def world_size() -> int:
    """Processes in this training run (``WORLD_SIZE``, set by torchrun / accelerate launch)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def distributed_kwargs(job: StageJob, device: str) -> dict[str, Any]:
    """TrainingArguments options for a run of several processes (none for one).

    On a CPU the ranks talk over gloo and ``use_cpu`` stays on: accelerate sets up its
    MULTI_CPU state only then (without it, under torchrun, each rank gets a shard of the
    data but no DistributedDataParallel: world size 2, yet two models drifting apart).
    FSDP and DeepSpeed are TrainingArguments options that transformers hands to accelerate.
    """
    if world_size() == 1:
        return {}
    out: dict[str, Any] = {"ddp_backend": "gloo" if device == "cpu" else "nccl"}
    strategy = job.distributed.strategy
    if strategy == "fsdp":
        out["fsdp"] = "full_shard auto_wrap"
        # auto_wrap wraps the model's _no_split_modules (its decoder layers); the full
        # state dict is gathered on rank 0 when the model is saved.
        out["fsdp_config"] = {"state_dict_type": "FULL_STATE_DICT", "use_orig_params": True}
    elif strategy == "deepspeed":
        out["deepspeed"] = {
            "zero_optimization": {"stage": job.distributed.zero_stage, "stage3_gather_16bit_weights_on_model_save": True},
            "train_micro_batch_size_per_gpu": "auto",
            "gradient_accumulation_steps": "auto",
            "train_batch_size": "auto",
            "gradient_clipping": "auto",
            "bf16": {"enabled": "auto"},
        }
    return out


def precision_flags(device: str, bf16: bool | None, gradient_checkpointing: bool | None) -> dict[str, bool]:
    """TRL defaults bf16 and gradient checkpointing to on; on a CPU both only slow training
    (5-7x measured on the tiny model), so ``None`` means: on for a GPU that supports bf16,
    off on CPU."""
    from transformers import TrainingArguments

    on_gpu = device == "cuda"
    auto_bf16 = on_gpu and torch.cuda.is_bf16_supported()
    # transformers 5.2x renamed gradient_checkpointing to activation_checkpointing (the old
    # name warns); TRL configs still default the old one to True, so set whichever exists.
    checkpointing_key = (
        "activation_checkpointing"
        if "activation_checkpointing" in TrainingArguments.__dataclass_fields__
        else "gradient_checkpointing"
    )
    return {
        "use_cpu": not on_gpu,
        "bf16": auto_bf16 if bf16 is None else bf16,
        checkpointing_key: on_gpu if gradient_checkpointing is None else gradient_checkpointing,
    }


class MetricsCallback(TrainerCallback):
    """Keeps every log line as ``{"step": n, ...}`` and forwards it to a progress callback."""

    def __init__(self, progress: ProgressCallback | None = None) -> None:
        self.per_step: list[dict[str, float]] = []
        self.summary: dict[str, float] = {}
        self.progress = progress

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001 (transformers' signature)
        logs = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float))}
        if "train_runtime" in logs:  # the end-of-training summary, not a step
            self.summary.update(logs)
            return
        entry = {"step": float(state.global_step), **logs}
        self.per_step.append(entry)
        if self.progress is not None:
            self.progress(state.global_step, state.max_steps, logs)

    def series(self, key: str) -> list[float]:
        return [e[key] for e in self.per_step if key in e]


@dataclass
class StageContext:
    """Everything a stage's ``train`` function needs, prepared by :func:`execute`."""

    job: StageJob
    train_rows: list[dict[str, Any]]
    eval_rows: list[dict[str, Any]]
    parents: dict[str, Path]
    device: str
    work_dir: Path
    checkpoint_dir: Path | None
    callback: MetricsCallback
    resumed_from: str | None = None
    _base: str | None = field(default=None, repr=False)

    @property
    def params(self) -> Any:
        return self.job.params

    # -- models ----------------------------------------------------------

    def base_ref(self) -> tuple[str, str | None]:
        """The base model as (path or hub id, revision); ``tiny`` is built once into the work dir."""
        if "base" in self.parents:
            return str(self.parents["base"]), None
        if self.job.base_model == "tiny":
            if self._base is None:
                self._base = str(build_tiny_model(self.work_dir / "tiny-base", seed=self.job.seed))
            return self._base, None
        if is_local_model_ref(self.job.base_model):
            path = Path(self.job.base_model).expanduser()
            if not (path / "config.json").is_file():
                raise InputError(f"base_model {self.job.base_model!r}: no config.json there; give a model directory")
            return str(path), None
        check_hub_model(self.job.base_model, self.job.base_revision)  # seconds, not a minute of retries
        return self.job.base_model, self.job.base_revision

    def start_ref(self) -> tuple[str, str | None]:
        """The model this stage starts from: the SFT parent when ``init_from: sft``, else the base."""
        if getattr(self.params, "init_from", "base") == "sft":
            return str(self.parent("sft")), None
        return self.base_ref()

    def parent(self, name: str) -> Path:
        if name not in self.parents:
            raise InputError(
                f"stage {self.job.stage!r} needs the {name!r} model: train that stage first "
                f"(or set init_from: base where the stage allows it)"
            )
        path = self.parents[name]
        if not (path / "config.json").is_file():
            raise InputError(f"{name} model directory {path} has no config.json: it is not a saved model")
        return path

    def tokenizer(self, ref: tuple[str, str | None], *, padding_side: str = "right"):  # noqa: ANN201
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(ref[0], revision=ref[1], padding_side=padding_side)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        return tok

    def seeded(self) -> None:
        from transformers import set_seed

        set_seed(self.job.seed)

    # -- TRL configuration -----------------------------------------------

    def config_kwargs(self, *, with_eval: bool = True) -> dict[str, Any]:
        """Keyword arguments shared by every TRL config class (a ``TrainingArguments`` subclass)."""
        p = self.params
        checkpointing = self.checkpoint_dir is not None
        evaluating = with_eval and bool(self.eval_rows) and p.eval_steps is not None
        return {
            "output_dir": str(self.checkpoint_dir if checkpointing else self.work_dir / "trainer"),
            "seed": self.job.seed,
            "learning_rate": p.learning_rate,
            "max_steps": p.max_steps,
            "num_train_epochs": p.num_train_epochs,
            "per_device_train_batch_size": p.per_device_train_batch_size,
            # the same global eval batches in any number of processes (TRL averages per-batch means)
            "per_device_eval_batch_size": -(-max(p.per_device_train_batch_size * world_size(), 8) // world_size()),
            "gradient_accumulation_steps": p.gradient_accumulation_steps,
            "lr_scheduler_type": p.lr_scheduler_type,
            "warmup_steps": p.warmup_steps,
            "logging_steps": p.logging_steps,
            "eval_strategy": "steps" if evaluating else "no",
            "eval_steps": p.eval_steps if evaluating else None,
            "save_strategy": "steps" if checkpointing else "no",
            "save_steps": p.save_steps,
            "save_total_limit": 2 if checkpointing else None,
            "report_to": "none",
            "disable_tqdm": True,
            "dataloader_num_workers": 0,
            **precision_flags(self.device, p.bf16, p.gradient_checkpointing),
            **distributed_kwargs(self.job, self.device),
        }

    def peft_config(self, task_type: str):  # noqa: ANN201
        """A ``peft.LoraConfig`` when LoRA is on, else None."""
        lora = self.params.lora
        if not lora.enabled:
            return None
        try:
            from peft import LoraConfig
        except ImportError:
            raise InputError(
                f"training.{self.job.stage}.lora.enabled is true, but the `peft` package is not installed; "
                "install it (pip install peft) or set lora.enabled: false"
            ) from None
        return LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            task_type=task_type,
        )

    def make_trainer(self, trainer_cls: Any, **kwargs: Any) -> Any:
        """``trainer_cls(**kwargs)`` with the metrics callback attached and nothing printed."""
        from transformers.trainer_callback import PrinterCallback

        trainer = trainer_cls(callbacks=[self.callback], **kwargs)
        # With disable_tqdm, transformers adds a PrinterCallback that prints every log line
        # to stdout; the library returns metrics instead of printing them.
        trainer.remove_callback(PrinterCallback)
        return trainer

    def final_eval(self, trainer: Any) -> dict[str, float]:
        """Held-out metrics after training: the last periodic evaluation when it ran at the
        final step, else a fresh ``trainer.evaluate()``."""
        evals = [e for e in self.callback.per_step if "eval_loss" in e]
        if evals and evals[-1]["step"] == trainer.state.global_step:
            return evals[-1]
        return trainer.evaluate()

    def fit(self, trainer: Any) -> None:
        """``trainer.train()``, resuming from the latest checkpoint in ``checkpoint_dir`` if any."""
        resume = None
        if self.checkpoint_dir is not None and self.checkpoint_dir.is_dir():
            resume = last_complete_checkpoint(self.checkpoint_dir)
        self.resumed_from = resume
        trainer.train(resume_from_checkpoint=resume)


def last_complete_checkpoint(directory: Path) -> str | None:
    """The newest ``checkpoint-N`` in ``directory`` whose save finished: it holds
    ``trainer_state.json``, which the Trainer writes last. A process killed while saving leaves
    a newer, partial checkpoint (transformers' ``get_last_checkpoint`` would pick it and the
    resume would fail); it is skipped."""
    found = []
    for path in Path(directory).glob("checkpoint-*"):
        step = path.name.removeprefix("checkpoint-")
        if step.isdigit() and path.is_dir() and (path / "trainer_state.json").is_file():
            found.append((int(step), path))
    return str(max(found)[1]) if found else None


@dataclass
class StageOutput:
    """What a stage's ``train`` returns: the model to save, its tokenizer, and final metrics.

    ``trainer`` (when given) saves the model of a sharded run (FSDP, DeepSpeed), where
    every rank takes part in gathering the weights.
    """

    model: Any  # a model object, or the Path of a saved model directory (copied as it is)
    tokenizer: Any
    metrics: dict[str, float]
    trainer: Any = None


def save_model(model: Any, tokenizer: Any, directory: Path) -> None:
    """safetensors weights + config + tokenizer; LoRA adapters are merged in first."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)


def execute(
    train_fn: Callable[[StageContext], StageOutput],
    job: StageJob,
    data: str | Path | Iterable[Mapping[str, Any]],
    output_dir: Path,
    parents: dict[str, Path],
    progress: ProgressCallback | None,
    checkpoint_dir: Path | None,
) -> StageResult:
    """Run one stage function inside the shared set-up; see :func:`alignment_ci.train.stages.run_stage`.

    With ``training.distributed`` asking for several processes (and not already inside
    one of them), the stage runs in that many processes through :mod:`.launcher`.
    """

    started = time.perf_counter()
    rows = read_rows(data)
    device = detect_device()
    if job.stage in TRL_STAGES and world_size() == 1:
        processes = process_count(job.distributed)
        if processes > 1:
            refuse_existing_output(output_dir)  # before any process starts
            return run_distributed(job, rows, output_dir, parents, progress, checkpoint_dir, processes, device)
    train_rows, eval_rows = split_rows(rows, job.params.eval_fraction, job.seed)
    with _quiet_progress_bars():
        return _execute(train_fn, job, output_dir, parents, progress, checkpoint_dir, train_rows, eval_rows,
                        device, started)


@contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """No dataset-map or shard-writing progress bars from inside the library."""
    import datasets
    from transformers.utils import logging as hf_logging

    ds_on, hf_on = datasets.is_progress_bar_enabled(), hf_logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if ds_on:
            datasets.enable_progress_bars()
        if hf_on:
            hf_logging.enable_progress_bar()


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Transformers logs errors only inside the block."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


@contextmanager
def _rank_output_dir(output_dir: Path) -> Iterator[Path]:
    """Rank 0 builds ``output_dir`` atomically; other ranks get a scratch directory that is
    dropped (they only take part in gathering a sharded model's weights)."""
    if is_main_process():
        with atomic_output_dir(output_dir) as staging:
            yield staging
    else:
        with tempfile.TemporaryDirectory(prefix="alignment-ci-rank-") as scratch:
            yield Path(scratch)


def _save_output(out: StageOutput, job: StageJob, staging: Path) -> None:
    if isinstance(out.model, Path):  # a model another engine saved (the ppo stage's verl actor)
        for item in out.model.iterdir():
            if item.is_file():
                shutil.copy2(item, staging / item.name)
        return
    sharded = world_size() > 1 and job.distributed.strategy != "ddp"
    if sharded and out.trainer is not None:
        out.trainer.save_model(str(staging))  # collective: every rank gathers, rank 0 writes
        if is_main_process():
            out.tokenizer.save_pretrained(staging)
    elif is_main_process():
        save_model(out.model, out.tokenizer, staging)


def _execute(
    train_fn: Callable[[StageContext], StageOutput],
    job: StageJob,
    output_dir: Path,
    parents: dict[str, Path],
    progress: ProgressCallback | None,
    checkpoint_dir: Path | None,
    train_rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]],
    device: str,
    started: float,
) -> StageResult:
    # Fail before training if the output already exists (outputs are write-once).
    with _rank_output_dir(output_dir) as staging, tempfile.TemporaryDirectory(prefix="alignment-ci-train-") as work:
        ctx = StageContext(
            job=job,
            train_rows=train_rows,
            eval_rows=eval_rows,
            parents=parents,
            device=device,
            work_dir=Path(work),
            checkpoint_dir=checkpoint_dir,
            callback=MetricsCallback(progress),
        )
        out = train_fn(ctx)
        _save_output(out, job, staging)
        (staging / STAGE_FILE).write_text(
            json.dumps({"stage": job.stage, "job": job.model_dump(mode="json")}, indent=2, sort_keys=True) + "\n",
            encoding="utf-8",
        )
    metrics = {
        "n_train": float(len(train_rows)),
        "n_eval": float(len(eval_rows)),
        **{k: float(v) for k, v in ctx.callback.summary.items() if k in ("train_loss", "train_runtime")},
        **out.metrics,
    }
    # A metric that did not apply (e.g. KL with beta 0) is absent, not NaN.
    metrics = {k: v for k, v in metrics.items() if not math.isnan(v)}
    return StageResult(
        stage=job.stage,
        metrics=metrics,
        per_step=ctx.callback.per_step,
        model_dir=output_dir,
        device=device,
        wall_s=time.perf_counter() - started,
        resumed_from=os.fspath(ctx.resumed_from) if ctx.resumed_from else None,
        extra=_parallel_facts(out.trainer),
    )


def _parallel_facts(trainer: Any) -> dict[str, Any]:
    """How a multi-process run was really parallel: world size alone does not show it (a rank
    can have its shard of the data and still train its own unsynchronised model)."""
    if trainer is None or world_size() == 1:
        return {}
    return {
        "world_size": world_size(),
        "distributed_type": str(trainer.accelerator.distributed_type.value),
        "wrapped_model": type(trainer.model_wrapped).__name__,
    }


# ---------------------------------------------------------------- scoring helpers


@torch.no_grad()
def score_texts(model: Any, tokenizer: Any, texts: list[str], batch_size: int = 32) -> list[float]:
    """Scalar scores of a sequence-classification (reward) model, right-padded, no special
    tokens added: the way TRL's online trainers call ``reward_funcs`` models."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    scores: list[float] = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[start : start + batch_size],
            return_tensors="pt",
            padding=True,
            padding_side="right",
            add_special_tokens=False,
        ).to(device)
        scores.extend(model(**batch).logits[:, 0].float().cpu().tolist())
    model.train(was_training)
    return scores


def last(series: list[float], default: float = float("nan")) -> float:
    return series[-1] if series else default
