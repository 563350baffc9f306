"""The Modal backend's app: image, GPUs, volumes, secrets, retries and the training function.

Defining the app needs no credentials (tests import this module and run the function
body with ``.local()``); running it remotely does. The function body calls
:func:`alignment_ci.train.backends.local.execute_job`, the same function the local
backend runs. GPU type and count, timeout and retries come from ``training.modal`` and
are applied per call with ``Function.with_options`` (see :mod:`.backends.modal`).

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
DEFAULT_GPU = "H100"
DEFAULT_TIMEOUT_S = 3600

image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install(*IMAGE_PACKAGES)
    .env({"HF_HOME": HF_CACHE, "TOKENIZERS_PARALLELISM": "false"})
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
    """Run one stage on Modal: unpack parent models, train with checkpoints on the volume.

    With several GPUs (``A100-80GB:4``) the Trainer in this one process uses all of them
    (data-parallel, as transformers' Trainer does when it sees several devices);
    multi-process DDP through ``accelerate launch`` is not wired up.
    """
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
