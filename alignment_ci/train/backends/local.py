"""The local backend: the stage runs in this process, on this machine's CPU or GPU.

Interruption: the stage writes its model to a temporary sibling and renames it at the
end, so Ctrl-C or a crash leaves no half-written model; checkpoints go to
``.alignment-ci/checkpoints/<run_key>`` and a rerun resumes from the latest one.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from ...config import Config
from ...errors import InputError
from ..runs import pack_model_dir
from ..specs import StageJob
from ..stages import run_stage


def execute_job(job_json: dict[str, Any], rows: list[dict], parent_dirs: dict[str, str], checkpoint_dir: str | None, callback=None) -> dict[str, Any]:
    """Train one stage and return its result with the packed model (``model_tar``).

    This is the body of the Modal function too: plain JSON-able inputs, bytes out.
    """
    import warnings

    # TRL 1.16 calls a transformers 5.24 API deprecated in favour of is_activation_checkpointing.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

    job = StageJob.model_validate(job_json)
    with tempfile.TemporaryDirectory(prefix="alignment-ci-model-") as tmp:
        out = Path(tmp) / "model"
        result = run_stage(job, rows, out, parent_dirs or None, callback, checkpoint_dir=checkpoint_dir)
        data = result.to_dict()
        data["model_tar"] = pack_model_dir(result.model_dir)
    return data


class LocalBackend:
    def run(self, config: Config, job, run_key: str, rows: list[dict], parent_dirs: dict, callback) -> dict[str, Any]:
        checkpoints = config.resolve(".alignment-ci/checkpoints") / run_key
        result = execute_job(job.model_dump(mode="json"), rows, {k: str(v) for k, v in parent_dirs.items()}, str(checkpoints), callback)
        shutil.rmtree(checkpoints, ignore_errors=True)  # finished: nothing left to resume
        return result

    def submit(self, config: Config, job, run_key, dataset, parent_records, store) -> dict[str, Any]:
        raise InputError("--detach needs the modal backend; the local backend trains in the foreground")
