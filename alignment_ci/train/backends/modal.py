"""The Modal backend: the stage runs remotely in :mod:`alignment_ci.train.modal_app`.

Without Modal credentials it fails at once with what to do (Modal's client would
otherwise retry for about a minute before giving up). ``--detach`` spawns the call and
records it as pending; ``alignment-ci train wait RUN`` collects it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from ...config import Config
from ...errors import InputError
from ...lazy import heavy_module
from ...store import open_store
from ..runs import Dataset, PENDING_KIND, RUNS_KIND, finish_run, pack_model_dir

NO_CREDENTIALS = (
    "Modal credentials not found: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET (in CI: as secrets of the protected "
    "`training` environment) or run `modal token new` locally; or train here with --backend local"
)


def require_credentials(environ: dict[str, str] | None = None) -> None:
    """Raise InputError in well under a second when no Modal token is configured."""
    env = os.environ if environ is None else environ
    if env.get("MODAL_TOKEN_ID") and env.get("MODAL_TOKEN_SECRET"):
        return
    try:
        from modal.config import config as modal_config

        if modal_config.get("token_id") and modal_config.get("token_secret"):
            return
    except Exception:
        pass
    raise InputError(NO_CREDENTIALS)


def _function(job):
    modal_app = heavy_module("modal_app")

    return modal_app.function_for(job.stage).with_options(
        gpu=job.modal.gpu,
        timeout=job.modal.timeout_s,
        retries=job.modal.retries,
    )


def _parent_tars(config: Config, parent_records: dict, store) -> dict[str, bytes]:
    return {name: store.get_blob(record["artifact"]) for name, record in parent_records.items()}


class ModalBackend:
    def run(self, config: Config, job, run_key: str, rows: list[dict], parent_dirs: dict, callback) -> dict[str, Any]:
        require_credentials()

        tars = {name: pack_model_dir(Path(d)) for name, d in parent_dirs.items()}
        with _app_running():
            return _function(job).remote(job.model_dump(mode="json"), rows, tars, run_key)

    def submit(self, config: Config, job, run_key, dataset, parent_records, store) -> dict[str, Any]:
        require_credentials()

        with _app_running():
            call = _function(job).spawn(job.model_dump(mode="json"), dataset.pairs, _parent_tars(config, parent_records, store), run_key)
        pending = {
            "run_key": run_key,
            "stage": job.stage,
            "call_id": call.object_id,
            "submitted_at": time.time(),
            "snapshot": dataset.snapshot,
            "batches": dataset.batches,
            "raters": dataset.raters,
            "pairs": len(dataset.pairs),
            "pairs_excluded": dataset.excluded,
            "parents": {n: {"run_key": r["run_key"], "artifact": r["artifact"]} for n, r in parent_records.items()},
        }
        store.put_record(PENDING_KIND, run_key, pending)
        return {"run_key": run_key, "cached": False, "detached": True, "call_id": call.object_id, "stage": job.stage}


def _app_running():
    return heavy_module("modal_app").app.run()


def wait(config: Config, run_ref: str, *, timeout_s: float | None = None, store=None) -> dict[str, Any]:
    """Collect a detached Modal run and finish it (store model, record, lineage)."""
    import modal


    store = store if store is not None else open_store(config)
    keys = [k for k in store.list_records(PENDING_KIND) if k.startswith(run_ref)]
    if len(keys) != 1:
        done = [k for k in store.list_records(RUNS_KIND) if k.startswith(run_ref)]
        if len(done) == 1:
            return {**store.get_record(RUNS_KIND, done[0]), "cached": True}
        raise InputError(f"no detached run matches {run_ref!r}")
    pending = store.get_record(PENDING_KIND, keys[0])
    require_credentials()
    result = modal.FunctionCall.from_id(pending["call_id"]).get(timeout=timeout_s)
    job = config.training.job(pending["stage"]).model_copy(update={"backend": "modal"})
    dataset = Dataset(pending["snapshot"], pending["batches"], pending["raters"], [{}] * pending["pairs"], pending["pairs_excluded"])
    parents = {n: store.get_record(RUNS_KIND, p["run_key"]) for n, p in pending["parents"].items()}
    wall = time.time() - pending["submitted_at"]
    return finish_run(config, job, pending["run_key"], dataset, parents, result, store, wall_s=wall)
