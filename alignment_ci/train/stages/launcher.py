"""Multi-process training of the TRL stages: one process per device.

:func:`run_distributed` starts N copies of this module's worker (``python -m
alignment_ci.train.stages.launcher``) under ``accelerate launch`` on GPUs (DDP by default, FSDP
or DeepSpeed ZeRO by ``training.distributed.strategy``) and under ``torchrun`` with the
gloo backend on a CPU (``accelerate launch --cpu`` starts independent single-process
runs there, not one run of N ranks). Every rank runs :func:`alignment_ci.train.stages.
common.execute`; rank 0 writes the model, the result and one line per logged step,
which this process forwards to the progress callback (so Modal commits checkpoints and
the CLI shows progress as in one process).

The global batch of an optimizer step is kept: with N processes the accumulation steps
(or, when they do not divide by N, the per-device batch) are divided by N, so a stage
trains the same thing in one process or several, and its run key does not change.

A progress callback that raises stops every rank at once (the process group is
killed); checkpoints written so far stay, and the next run resumes from the latest.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ...errors import InputError
from ..specs import TRL_STAGES, DistributedSettings, StageJob
from . import StageResult, run_stage

ProgressCallback = Callable[[int, int, dict[str, float]], None]

WORKER_MODULE = "alignment_ci.train.stages.launcher"
SPEC_FILE, ROWS_FILE, RESULT_FILE, PROGRESS_FILE, LOG_FILE = (
    "spec.json", "rows.jsonl", "result.json", "progress.jsonl", "launch.log",
)


class LaunchError(RuntimeError):
    """The launched processes failed; the message ends with the tail of their log."""


# ---------------------------------------------------------------- planning


def visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def process_count(settings: DistributedSettings, gpus: int | None = None) -> int:
    """How many processes ``settings`` asks for on a machine with ``gpus`` GPUs."""
    if settings.processes == "auto":
        gpus = visible_gpus() if gpus is None else gpus
        return max(gpus, 1)
    return int(settings.processes)


def split_global_batch(job: StageJob, processes: int) -> StageJob:
    """The job each of ``processes`` ranks runs: same global batch per optimizer step.

    The global batch is ``per_device_train_batch_size × gradient_accumulation_steps ×
    processes``; the configured values describe one process, so N processes divide the
    accumulation steps by as much of N as they can, and the per-device batch by the rest.
    """
    if processes == 1:
        return job
    p = job.params
    batch, accumulation = p.per_device_train_batch_size, p.gradient_accumulation_steps
    shared = math.gcd(accumulation, processes)  # fewer accumulation steps first, then smaller per-device batches
    rest = processes // shared
    if batch % rest:
        raise InputError(
            f"training.{job.stage}: the global batch per_device_train_batch_size × gradient_accumulation_steps = "
            f"{batch} × {accumulation} cannot be split evenly over {processes} processes; make their product a "
            f"multiple of {processes} (or set training.distributed.processes)"
        )
    accumulation //= shared
    batch //= rest
    changes: dict[str, Any] = {"per_device_train_batch_size": batch, "gradient_accumulation_steps": accumulation}
    if job.stage in ("grpo", "rloo") and (batch * accumulation) % p.num_generations:
        raise InputError(
            f"training.{job.stage}: with {processes} processes each rank's batch is {batch} × {accumulation}, not a "
            f"multiple of num_generations ({p.num_generations}); raise per_device_train_batch_size"
        )
    return job.model_copy(update={"params": p.model_copy(update=changes)})


def launch_command(processes: int, device: str, settings: DistributedSettings, worker_args: list[str]) -> list[str]:
    """The command that starts ``processes`` workers.

    GPU: ``accelerate launch --multi_gpu`` (the strategy is applied by the worker through
    TrainingArguments' ``fsdp``/``deepspeed`` options, which accelerate reads).
    CPU: ``torchrun --standalone`` (a free rendezvous port on the loopback interface).
    """
    if device == "cuda":
        return [
            sys.executable, "-m", "accelerate.commands.launch",
            "--multi_gpu", "--num_machines", "1", "--num_processes", str(processes),
            "--main_process_port", str(_free_port()), "--mixed_precision", "no", "--dynamo_backend", "no",
            "-m", WORKER_MODULE, *worker_args,
        ]
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
        "--nproc_per_node", str(processes), "-m", WORKER_MODULE, *worker_args,
    ]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the parent side


def run_distributed(
    job: StageJob,
    rows: list[dict[str, Any]],
    output_dir: Path,
    parents: Mapping[str, Path],
    progress: ProgressCallback | None,
    checkpoint_dir: Path | None,
    processes: int,
    device: str,
):
    """Train ``job`` in ``processes`` processes; return the :class:`StageResult` rank 0 wrote."""

    if job.stage not in TRL_STAGES:
        raise InputError(f"stage {job.stage!r} does not run under the TRL launcher")
    settings = job.distributed
    if settings.strategy == "deepspeed":
        _require("deepspeed", "training.distributed.strategy is deepspeed")
    if settings.strategy != "ddp" and job.params.lora.enabled:
        raise InputError(f"training.{job.stage}: LoRA is supported with strategy ddp only (adapters are merged on save)")
    if settings.strategy != "ddp" and device != "cuda":
        raise InputError(f"training.distributed.strategy {settings.strategy!r} needs GPUs; on a CPU use ddp")
    rank_job = split_global_batch(job, processes)
    output_dir = Path(output_dir)
    with tempfile.TemporaryDirectory(prefix="alignment-ci-launch-") as tmp:
        work = Path(tmp)
        with open(work / ROWS_FILE, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        spec = {
            "job": rank_job.model_dump(mode="json"),
            "output_dir": str(output_dir),
            "parents": {k: str(v) for k, v in parents.items()},
            "checkpoint_dir": str(checkpoint_dir) if checkpoint_dir is not None else None,
        }
        (work / SPEC_FILE).write_text(json.dumps(spec), encoding="utf-8")
        command = launch_command(processes, device, settings, [str(work)])
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "TOKENIZERS_PARALLELISM": "false"}
        with open(work / LOG_FILE, "wb") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                follow(proc, work / PROGRESS_FILE, _progress_line(progress))
            except BaseException:
                stop(proc)
                raise
        if proc.returncode != 0 or not (work / RESULT_FILE).is_file():
            tail = (work / LOG_FILE).read_text(encoding="utf-8", errors="replace")[-4000:]
            _raise_worker_error(work, proc.returncode, tail)
        data = json.loads((work / RESULT_FILE).read_text(encoding="utf-8"))
    return StageResult(
        stage=data["stage"],
        metrics=data["metrics"],
        per_step=data["per_step"],
        model_dir=Path(data["model_dir"]),
        device=data["device"],
        wall_s=data["wall_s"],
        resumed_from=data.get("resumed_from"),
        extra={**data.get("extra", {}), "processes": processes, "strategy": settings.strategy},
    )


def _require(module: str, why: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise InputError(f"{why}, but the `{module}` package is not installed here; install it or choose ddp")


def _progress_line(progress: ProgressCallback | None) -> Callable[[dict[str, Any]], None] | None:
    if progress is None:
        return None
    return lambda entry: progress(entry["step"], entry["max_steps"], entry["logs"])


def follow(proc: subprocess.Popen, jsonl_file: Path, on_entry: Callable[[dict[str, Any]], None] | None,
           poll_s: float = 0.2) -> None:
    """Wait for ``proc``, handing each complete JSON line appended to ``jsonl_file`` to
    ``on_entry`` as it appears (and the rest once ``proc`` has exited). If ``on_entry``
    raises, the exception propagates and ``proc`` is left to the caller to stop."""
    offset = 0
    while True:
        finished = proc.poll() is not None
        if on_entry is not None and jsonl_file.is_file():
            with open(jsonl_file, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]  # a line being written waits for the next poll
            offset += len(complete)
            for line in complete.decode("utf-8").splitlines():
                if line.strip():
                    on_entry(json.loads(line))
        if finished:
            return
        time.sleep(poll_s)


def stop(proc: subprocess.Popen) -> None:
    """End the whole process group (the launcher and every rank): TERM, then KILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _raise_worker_error(work: Path, returncode: int | None, tail: str) -> None:
    error_file = work / "error.json"
    if error_file.is_file():
        err = json.loads(error_file.read_text(encoding="utf-8"))
        if err.get("input_error"):
            raise InputError(err["message"])
    first = next((line for line in tail.splitlines() if re.match(r"^[A-Za-z_.]+(Error|Exception): ", line)), None)
    cause = f": {first}" if first else ""
    raise LaunchError(f"training processes exited with status {returncode}{cause}; last lines of their log:\n{tail}")


# ---------------------------------------------------------------- the worker side


def worker(work: Path) -> int:
    """One rank: train the stage from the spec in ``work``; rank 0 reports and writes the model."""

    spec = json.loads((work / SPEC_FILE).read_text(encoding="utf-8"))
    job = StageJob.model_validate(spec["job"])
    rank = int(os.environ.get("RANK", "0"))
    progress = None
    if rank == 0:
        def progress(step: int, max_steps: int, logs: dict[str, float]) -> None:
            with open(work / PROGRESS_FILE, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"step": step, "max_steps": max_steps, "logs": logs}) + "\n")
    rows = [json.loads(line) for line in (work / ROWS_FILE).read_text(encoding="utf-8").splitlines() if line]
    checkpoint_dir = Path(spec["checkpoint_dir"]) if spec["checkpoint_dir"] else None
    try:
        result = run_stage(job, rows, spec["output_dir"], spec["parents"], progress, checkpoint_dir=checkpoint_dir)
    except InputError as exc:
        if rank == 0:
            (work / "error.json").write_text(json.dumps({"input_error": True, "message": str(exc)}), encoding="utf-8")
        raise
    if rank == 0:
        data = result.to_dict()
        tmp = work / (RESULT_FILE + ".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, work / RESULT_FILE)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m alignment_ci.train.stages.launcher WORK_DIR (started by run_distributed)", file=sys.stderr)
        return 2
    return worker(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
