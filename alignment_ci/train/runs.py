"""Training runs: content-keyed cache, model artifacts in the store, run records, lineage.

``run_key = sha256(stage spec, dataset snapshot hash, parent run keys, alignment-ci
version, TRL and transformers versions)``. Where the stage runs (local, Modal) and in
how many processes (``training.distributed``; the global batch is kept) are not
part of the key: it changes how long training takes, not what is trained. A run whose
key has a record in the store is not trained again.

A finished run stores its model directory (safetensors, tokenizer, config) as one
deterministic tar blob named by its sha256 (the *artifact*), then a write-once run
record ``runs/<run_key>``, then a lineage entry ``train`` whose inputs are the batch
hashes and the parent artifacts. ``lineage show ARTIFACT`` walks back from there to the
batches and their (pseudonymous) raters.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

from .. import __version__
from ..candidates import record_candidate
from ..config import Config
from ..data.manifest import iter_manifests, snapshot
from ..data.manifest import drop_excluded
from ..data.readers import read_batch
from ..errors import InputError
from ..lineage import LineageLog
from ..quality.pairs import training_pairs
from ..quality.raters import reliability_scores
from ..store import open_store
from ..textsafety import pseudonymize
from .registry import get_backend
from .specs import STAGES, StageJob

RUNS_KIND = "runs"
SNAPSHOTS_KIND = "snapshots"
PENDING_KIND = "pending-runs"


def _pkg_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    return {
        "alignment-ci": __version__,
        "trl": _pkg_version("trl"),
        "transformers": _pkg_version("transformers"),
        "torch": _pkg_version("torch"),
    }


def parents_of(job: StageJob) -> list[str]:
    """Stages whose trained models this stage starts from or scores with."""
    params = job.params
    parents: list[str] = []
    if getattr(params, "init_from", None) == "sft":
        parents.append("sft")
    if getattr(params, "use_reward_model", False):
        parents.append("reward")
    return parents


def run_key_for(job: StageJob, snapshot: str, parent_keys: dict[str, str]) -> str:
    spec = job.model_dump(mode="json", exclude={"backend", "modal", "distributed"})
    v = versions()
    payload = {
        "stage": job.stage,
        "spec": spec,
        "snapshot": snapshot,
        "parents": dict(sorted(parent_keys.items())),
        "versions": {k: v[k] for k in ("alignment-ci", "trl", "transformers")},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ----------------------------------------------------------------- model artifacts


def pack_model_dir(model_dir: Path) -> bytes:
    """A deterministic tar of ``model_dir``: sorted names, zero mtimes and owners."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
            info = tarfile.TarInfo(path.relative_to(model_dir).as_posix())
            info.size = path.stat().st_size
            info.mode = 0o644
            info.mtime = 0
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
    return buf.getvalue()


def _models_cache(config: Config) -> Path:
    return config.resolve(".alignment-ci/cache/models")


def model_dir_for(config: Config, record_or_artifact: dict[str, Any] | str, store=None) -> Path:
    """The stored model of a run, unpacked into the local cache (hash verified on load)."""

    artifact = record_or_artifact["artifact"] if isinstance(record_or_artifact, dict) else record_or_artifact
    target = _models_cache(config) / artifact
    if (target / ".verified").exists():
        return target
    store = store if store is not None else open_store(config)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".unpack-") as tmp:
        blob = Path(tmp) / "model.tar"
        store.get_blob_to_path(artifact, blob)  # raises IntegrityError on a corrupted artifact
        out = Path(tmp) / "model"
        with tarfile.open(blob) as tar:
            tar.extractall(out, filter="data")
        (out / ".verified").write_text(artifact)
        if target.exists():
            shutil.rmtree(target)
        os.replace(out, target)
    return target


# ----------------------------------------------------------------------- records


def get_run(config: Config, run_key: str, store=None) -> dict[str, Any] | None:
    store = store if store is not None else open_store(config)
    return store.get_record(RUNS_KIND, run_key)


def find_run(config: Config, ref: str, store=None) -> dict[str, Any]:
    """A run by run key, key prefix (≥ 8 characters), or artifact hash."""

    store = store if store is not None else open_store(config)
    if len(ref) < 8:
        raise InputError(f"run reference {ref!r} is too short: give at least 8 characters of a run key")
    matches = [k for k in store.list_records(RUNS_KIND) if k.startswith(ref)]
    if not matches:
        matches = [k for k in store.list_records(RUNS_KIND) if (store.get_record(RUNS_KIND, k) or {}).get("artifact", "").startswith(ref)]
    if len(matches) != 1:
        raise InputError(f"run {ref!r}: {'no run matches' if not matches else f'{len(matches)} runs match'}")
    return store.get_record(RUNS_KIND, matches[0])


def latest_run(config: Config, stage: str, store=None) -> dict[str, Any] | None:
    store = store if store is not None else open_store(config)
    records = [r for r in (store.get_record(RUNS_KIND, k) for k in store.list_records(RUNS_KIND)) if r and r.get("stage") == stage]
    return max(records, key=lambda r: r.get("finished_at", ""), default=None)


def git_commit(root: Path) -> str | None:
    """The commit checked out at ``root`` (40 hex digits), or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None


# ----------------------------------------------------------------------- dataset


@dataclass
class Dataset:
    snapshot: str
    batches: list[dict[str, Any]]  # {batch_id, sha256, vendor}
    raters: list[str]
    pairs: list[dict[str, Any]]
    excluded: dict[str, int]


def load_dataset(config: Config, job: StageJob, store=None) -> Dataset:
    """Training pairs from the batches of the dataset snapshot, aggregated as configured."""

    store = store if store is not None else open_store(config)
    current = snapshot(config)
    wanted = job.dataset.snapshot
    if wanted == "latest":
        snap, batches = current["snapshot"], current["batches"]
    else:
        record = store.get_record(SNAPSHOTS_KIND, wanted) if len(wanted) == 64 else None
        if record is None and current["snapshot"].startswith(wanted):
            record = current
        if record is None:
            raise InputError(f"dataset snapshot {wanted!r} is neither the current one nor stored; run `alignment-ci manifest snapshot`")
        snap, batches = record["snapshot"], record["batches"]
    if not batches:
        raise InputError("no label batches in the dataset snapshot: ingest one first (`alignment-ci ingest FILE --vendor V`)")
    store.put_record(SNAPSHOTS_KIND, snap, {"snapshot": snap, "batches": batches})
    vendors = {data.get("sha256"): data.get("vendor") for _, data in iter_manifests(config)}
    raters: set[str] = set()
    pairs: list[dict[str, Any]] = []
    excluded: dict[str, int] = {}
    method = job.dataset.aggregation
    with tempfile.TemporaryDirectory(prefix="alignment-ci-data-") as tmp:
        for batch in batches:
            local = Path(tmp) / f"{batch['sha256']}.parquet"
            store.get_blob_to_path(batch["sha256"], local)
            df = read_batch(local, default_dimension=config.taxonomy.default_dimension, limits=config.validation.limits)
            df = drop_excluded(df, batch.get("excluded_raters") or [])  # the manifest's reviewed exclusions

            raters.update(pseudonymize(str(r)) for r in df["rater_id"].unique())
            weights = None
            if method == "weighted":
                weights = reliability_scores(df, config)
            if method == "bradley-terry":
                method_used = "dawid-skene"  # BT scores entities, not items: pairs come from item decisions
            else:
                method_used = method
            batch_pairs, batch_excluded = training_pairs(df, method_used, config, weights=weights, include_gold=config.quality.pairs_include_gold)
            pairs.extend(batch_pairs)
            for k, v in batch_excluded.items():
                excluded[k] = excluded.get(k, 0) + v
            batch["vendor"] = vendors.get(batch["sha256"])
    if not pairs:
        raise InputError(f"the snapshot's batches give no training pairs with {method} (excluded: {excluded})")
    return Dataset(snap, batches, sorted(raters), pairs, excluded)


# -------------------------------------------------------------------------- train


ProgressFactory = Callable[[str], Callable[[int, int, dict[str, float]], None] | None]


def train(
    config: Config,
    stage: str,
    *,
    backend: str | None = None,
    store=None,
    progress: ProgressFactory | None = None,
    detach: bool = False,
) -> dict[str, Any]:
    """Train ``stage`` (and, first, any parent stage not cached); return its run record.

    The record has ``cached: true`` when the run key was already in the store.
    """

    if stage not in STAGES:
        raise InputError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
    store = store if store is not None else open_store(config)
    job = config.training.job(stage)
    if backend is not None:
        job = job.model_copy(update={"backend": backend})
    parent_records = {name: train(config, name, backend=backend, store=store, progress=progress) for name in parents_of(job)}
    dataset = load_dataset(config, job, store)
    key = run_key_for(job, dataset.snapshot, {n: r["run_key"] for n, r in parent_records.items()})
    existing = store.get_record(RUNS_KIND, key)
    if existing is not None:
        return {**existing, "cached": True}
    parent_dirs = {name: model_dir_for(config, record, store) for name, record in parent_records.items()}

    runner = get_backend(job.backend)
    callback = progress(stage) if progress else None
    if detach:
        return runner.submit(config, job, key, dataset, parent_records, store)
    started = time.time()
    result = runner.run(config, job, key, dataset.pairs, parent_dirs, callback)
    return finish_run(config, job, key, dataset, parent_records, result, store, wall_s=time.time() - started)


def finish_run(config: Config, job: StageJob, key: str, dataset: Dataset, parent_records: dict[str, dict], result: dict[str, Any], store, *, wall_s: float) -> dict[str, Any]:
    """Store the model and the run record, append lineage. ``result`` holds ``model_tar`` bytes or ``model_dir``."""

    tar = result.get("model_tar")
    if tar is None:
        tar = pack_model_dir(Path(result["model_dir"]))
    artifact = store.put_blob(tar)
    record = {
        "run_key": key,
        "stage": job.stage,
        "artifact": artifact,
        "artifact_uri": store.blob_uri(artifact),
        "metrics": result.get("metrics", {}),
        "per_step": result.get("per_step", []),
        "snapshot": dataset.snapshot,
        "batches": dataset.batches,
        "batch_ids": [b["batch_id"] for b in dataset.batches],
        "raters": dataset.raters,
        "pairs": len(dataset.pairs),
        "pairs_excluded": dataset.excluded,
        "parents": {name: {"run_key": r["run_key"], "artifact": r["artifact"]} for name, r in parent_records.items()},
        "git_commit": git_commit(config.root),
        "config": job.model_dump(mode="json"),
        "versions": versions(),
        "backend": job.backend,
        "device": result.get("device"),
        "wall_s": round(wall_s, 3),
        "train_s": result.get("wall_s"),
        "resumed_from": result.get("resumed_from"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    store.put_record(RUNS_KIND, key, record)
    LineageLog(store).append(
        kind="train",
        subject=artifact,
        inputs=[b["sha256"] for b in dataset.batches] + [r["artifact"] for r in parent_records.values()],
        data={"stage": job.stage, "run_key": key, "snapshot": dataset.snapshot, "batch_ids": record["batch_ids"], "raters": dataset.raters},
    )
    return {**record, "cached": False}


# ---------------------------------------------------------------------- candidate


def train_pipeline(
    config: Config,
    stages: list[str] | None = None,
    *,
    backend: str | None = None,
    store=None,
    progress: ProgressFactory | None = None,
) -> dict[str, Any]:
    """Train every stage of ``training.pipeline`` (or ``stages``), parents first, and record the
    candidate that links their runs (:func:`alignment_ci.candidates.record_candidate`).

    Returns the candidate record with ``runs`` holding each stage's full run record under
    ``run_records`` (``cached`` per run) and ``recorded`` (false when the same candidate was
    recorded before).
    """

    store = store if store is not None else open_store(config)
    pipeline = list(stages or config.training.pipeline)
    unknown = [s for s in pipeline if s not in STAGES]
    if unknown:
        raise InputError(f"unknown stage(s) {', '.join(unknown)} in the pipeline; choose from {', '.join(STAGES)}")
    records = [train(config, stage, backend=backend, store=store, progress=progress) for stage in pipeline]
    candidate = record_candidate(store, records, pipeline)
    return {**candidate, "run_records": {r["stage"]: r for r in records}}
