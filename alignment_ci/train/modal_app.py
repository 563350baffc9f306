"""The Modal backend's app: images, GPUs, volumes, secrets, retries and the training functions.

Defining the app needs no credentials (tests import this module and run the function
body with ``.local()``); running it remotely does. The function body calls
:func:`alignment_ci.train.backends.local.execute_job`, the same function the local
backend runs. GPU type and count, timeout and retries come from ``training.modal`` and
are applied per call with ``Function.with_options`` (see :mod:`.backends.modal`).

Two functions, each with its image:

- ``train_stage`` (image ``image``: TRL): the TRL stages. With several GPUs
  (``A100-80GB:4``) the stage runs in one process per GPU under ``accelerate launch``
  (DDP, or FSDP / DeepSpeed ZeRO by ``training.distributed.strategy``; see
  :mod:`alignment_ci.train.stages.launcher`).
- ``train_ppo`` (image ``verl_image``: verl 0.9.1 with vLLM, which pins
  ``transformers<5.11`` and its own torch, so it cannot share the TRL image): the ``ppo``
  stage on 1-8 GPUs of one container (verl starts its own Ray cluster inside it).

Volumes: ``alignment-ci-hf-cache`` (Hugging Face downloads, shared by calls) and
``alignment-ci-checkpoints`` (``/checkpoints/<run_key>``, committed after each save so a
retried call resumes from the latest checkpoint). Secrets: ``alignment-ci-hub`` (HF_TOKEN)
and ``alignment-ci-store`` (S3 credentials for the artifact store).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import modal
from .backends.local import execute_job

APP_NAME = "alignment-ci-train"
HF_CACHE = "/root/.cache/huggingface"
CHECKPOINTS = "/checkpoints"
# Pinned to what this package is tested with (pyproject's `train` extra pins TRL exactly).
IMAGE_PACKAGES = (
    "torch==2.13.0",
    "trl==1.16.0",
    "transformers==5.24.0",
    "accelerate==1.15.0",
    "peft==0.21.2",
    "datasets==5.2.0",
    "tokenizers==0.23.3",
    "safetensors",
    "pydantic>=2.7,<3",
    "pyyaml>=6,<7",
    "pandas>=2.2,<4",
    "pyarrow>=17,<27",
)
# ZeRO for `training.distributed.strategy: deepspeed` (its CUDA ops build just in time).
DISTRIBUTED_PACKAGES = ("deepspeed==0.19.8",)
# verl's `vllm` extra pins torch 2.11, vllm 0.24 and transformers 5.9; the package's own
# light dependencies come after it. Not the TRL image: transformers<5.11 there.
VERL_IMAGE_PACKAGES = (
    "verl[vllm]==0.9.1",
    "pydantic>=2.7,<3",
    "pyyaml>=6,<7",
    "pandas>=2.2,<4",
    "pyarrow>=19,<27",
)
DEFAULT_GPU = "H100"
DEFAULT_TIMEOUT_S = 3600
ENV = {"HF_HOME": HF_CACHE, "TOKENIZERS_PARALLELISM": "false"}

image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install(*IMAGE_PACKAGES, *DISTRIBUTED_PACKAGES)
    .env(ENV)
    .add_local_python_source("alignment_ci")
)
verl_image = (
    modal.Image.debian_slim(python_version="3.11")
    .apt_install("git")
    .pip_install(*VERL_IMAGE_PACKAGES)
    .env({**ENV, "VLLM_USE_V1": "1", "RAY_DEDUP_LOGS": "0"})
    .add_local_python_source("alignment_ci")
)
hf_cache = modal.Volume.from_name("alignment-ci-hf-cache", create_if_missing=True)
checkpoints = modal.Volume.from_name("alignment-ci-checkpoints", create_if_missing=True)
secrets = [modal.Secret.from_name("alignment-ci-hub"), modal.Secret.from_name("alignment-ci-store")]
retries = modal.Retries(max_retries=1, backoff_coefficient=2.0, initial_delay=10.0)

app = modal.App(APP_NAME, image=image)


def gpu_spec(gpu: str) -> tuple[str, int]:
    """Split Modal's ``TYPE[:COUNT]`` GPU string."""
    kind, _, count = gpu.partition(":")
    return kind, int(count or 1)


FUNCTION_OPTIONS: dict[str, Any] = {
    "gpu": DEFAULT_GPU,
    "timeout": DEFAULT_TIMEOUT_S,
    "retries": retries,
    "volumes": {HF_CACHE: hf_cache, CHECKPOINTS: checkpoints},
    "secrets": secrets,
}


@app.function(**FUNCTION_OPTIONS)
def train_stage(job_json: dict[str, Any], rows: list[dict], parent_tars: dict[str, bytes], run_key: str) -> dict[str, Any]:
    """Run one TRL stage on Modal: unpack parent models, train with checkpoints on the volume.

    With several GPUs (``A100-80GB:4``), ``training.distributed.processes: auto`` starts
    one process per GPU under ``accelerate launch`` (:mod:`alignment_ci.train.stages.launcher`).
    """
    return _run(job_json, rows, parent_tars, run_key)


@app.function(image=verl_image, **FUNCTION_OPTIONS)
def train_ppo(job_json: dict[str, Any], rows: list[dict], parent_tars: dict[str, bytes], run_key: str) -> dict[str, Any]:
    """Run the ``ppo`` stage on verl, on the GPUs of this one container."""
    return _run(job_json, rows, parent_tars, run_key)


def function_for(stage: str):  # noqa: ANN201
    """The Modal function that trains ``stage``: ``train_ppo`` for ppo, else ``train_stage``."""
    return train_ppo if stage == "ppo" else train_stage


def _run(job_json: dict[str, Any], rows: list[dict], parent_tars: dict[str, bytes], run_key: str) -> dict[str, Any]:
    """The body both functions share: the local backend's :func:`execute_job`."""
    import io
    import tarfile
    import tempfile


    workdir = Path(tempfile.mkdtemp(prefix="parents-"))
    parent_dirs: dict[str, str] = {}
    for name, blob in parent_tars.items():
        target = workdir / name
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            tar.extractall(target, filter="data")
        parent_dirs[name] = str(target)
    checkpoint_dir = Path(os.environ.get("ALIGNMENT_CI_CHECKPOINTS", CHECKPOINTS)) / run_key
    save_steps = int(job_json["params"].get("save_steps", 50))

    def commit_checkpoints(step: int, max_steps: int, logs: dict[str, float]) -> None:
        if step and step % save_steps == 0:
            try:
                checkpoints.commit()
            except Exception:  # outside a Modal container (e.g. .local()) there is nothing to commit
                pass

    return execute_job(job_json, rows, parent_dirs, str(checkpoint_dir), commit_checkpoints)
