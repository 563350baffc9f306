"""Candidate records and the production baseline, in the artifact store.

A *candidate* is the model set one training pipeline produced: the run of every stage
(``training.pipeline``, e.g. reward → sft → dpo), linked in one record. The gates judge it
as a whole, so the record names each *role*:

- ``reward_model``: the ``reward`` run;
- ``policy``: the last policy stage of the pipeline (rloo, grpo, dpo or, alone, sft);
- ``reference``: the SFT run the policy started from (DPO's reference model, the KL anchor
  of GRPO/RLOO), when the pipeline has one.

The record is content-addressed: its id is the sha256 of the canonical JSON of the pipeline
and the run keys (:func:`candidate_id`), so training the same runs again gives the same id
and the write-once store keeps one copy. Recording one appends a ``candidate`` lineage entry
whose inputs are the runs' model artifacts (``lineage show`` walks from it to the batches).

The *baseline* is the candidate serving production: a rollout that reaches 100% makes its
candidate the baseline (:func:`set_baseline` from the rollout controller), and
``alignment-ci baseline set`` does it by hand (a first model, or an override). Baseline
records are write-once and numbered (``baselines/<seq>``); the highest number is in force,
the earlier ones are the history. Each change is a ``baseline`` lineage entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from .errors import InputError
from .lineage import LineageLog
from .store.base import ArtifactStore, WriteConflict, canonical_json

CANDIDATES_KIND = "candidates"
BASELINES_KIND = "baselines"
RUNS_KIND = "runs"  # where alignment_ci.train.runs keeps run records
POLICY_ORDER = ("ppo", "rloo", "grpo", "dpo", "sft")  # the policy of a pipeline: the first of these it has
ROLES = ("reward_model", "reference", "policy")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def candidate_id(pipeline: Sequence[str], run_keys: dict[str, str]) -> str:
    """The content address of a candidate: sha256 of ``{pipeline, runs: {stage: run_key}}``."""
    payload = {"pipeline": list(pipeline), "runs": dict(sorted(run_keys.items()))}
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def roles_of(runs: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    """Which stage fills each role (``{"reward_model": "reward", "reference": "sft", "policy": "dpo"}``)."""
    policy = next((s for s in POLICY_ORDER if s in runs), None)
    reference = None
    if policy is not None and policy != "sft":
        parent = (runs[policy].get("parents") or {}).get("sft")
        if parent or "sft" in runs:
            reference = "sft"
    return {"reward_model": "reward" if "reward" in runs else None, "reference": reference, "policy": policy}


def make_candidate(run_records: Sequence[dict[str, Any]], pipeline: Sequence[str] | None = None) -> dict[str, Any]:
    """A candidate record from the run records of one pipeline (one run per stage).

    A stage's parents (e.g. the SFT run a DPO run started from) that are not among the
    records are taken from the run's ``parents``, so a pipeline trained stage by stage
    still links every model it used.
    """
    runs: dict[str, dict[str, Any]] = {}
    for record in run_records:
        stage = record.get("stage")
        if not stage or not record.get("run_key") or not record.get("artifact"):
            raise InputError(f"not a finished run record (stage, run_key and artifact are needed): {record.get('run_key')!r}")
        if stage in runs and runs[stage]["run_key"] != record["run_key"]:
            raise InputError(f"two {stage} runs ({runs[stage]['run_key'][:12]}, {record['run_key'][:12]}): "
                             "a candidate has one run per stage")
        runs[stage] = {"stage": stage, "run_key": record["run_key"], "artifact": record["artifact"],
                       "parents": record.get("parents") or {}}
    for record in list(runs.values()):
        for stage, parent in record["parents"].items():
            if stage not in runs and isinstance(parent, dict) and parent.get("run_key"):
                runs[stage] = {"stage": stage, "run_key": parent["run_key"], "artifact": parent.get("artifact"),
                               "parents": {}}
    if not runs:
        raise InputError("a candidate needs at least one run")
    order = list(pipeline) if pipeline else []
    stages = [s for s in order if s in runs] + [s for s in ("reward", "sft", "dpo", "grpo", "rloo", "ppo")
                                                   if s in runs and s not in order]
    keys = {s: runs[s]["run_key"] for s in stages}
    first = run_records[-1]
    return {
        "candidate_id": candidate_id(stages, keys),
        "pipeline": stages,
        "runs": {s: runs[s] for s in stages},
        **roles_of(runs),
        "snapshot": first.get("snapshot"),
        "batch_ids": first.get("batch_ids", []),
        "git_commit": first.get("git_commit"),
    }


def record_candidate(store: ArtifactStore, run_records: Sequence[dict[str, Any]],
                     pipeline: Sequence[str] | None = None) -> dict[str, Any]:
    """Store the candidate of these runs (write-once; the same runs give the same record) and
    append its ``candidate`` lineage entry the first time. Returns the record with
    ``recorded: true`` when it is new."""
    candidate = make_candidate(run_records, pipeline)
    existing = store.get_record(CANDIDATES_KIND, candidate["candidate_id"])
    if existing is not None:
        return {**existing, "recorded": False}
    candidate["created_at"] = _now()
    try:
        written = store.put_record(CANDIDATES_KIND, candidate["candidate_id"], candidate)
    except WriteConflict:  # recorded concurrently a moment ago
        written = False
    if not written:
        return {**(store.get_record(CANDIDATES_KIND, candidate["candidate_id"]) or candidate), "recorded": False}
    artifacts = [r["artifact"] for r in candidate["runs"].values() if r.get("artifact")]
    LineageLog(store).append(
        kind="candidate", subject=candidate["candidate_id"], inputs=artifacts,
        data={"pipeline": candidate["pipeline"], "runs": {s: r["run_key"] for s, r in candidate["runs"].items()},
              **{role: candidate[role] for role in ROLES}},
    )
    return {**candidate, "recorded": True}


def get_candidate(store: ArtifactStore, candidate: str) -> dict[str, Any] | None:
    """A candidate record by its id (64 hex characters)."""
    if len(candidate) != 64:
        return None
    return store.get_record(CANDIDATES_KIND, candidate)


def _run_refs(run: dict[str, Any]) -> tuple[str, str]:
    return run.get("run_key") or "", run.get("artifact") or ""


def resolve_candidate(store: ArtifactStore, ref: str) -> dict[str, Any]:
    """The candidate record that ``ref`` names: a candidate id or its prefix (8+ characters),
    or the run key (or prefix, or model artifact hash) of any run in a candidate, which gives
    the most recent candidate holding that run. A run that no candidate holds gives a
    candidate made from it and its parents, ``recorded: false``, not stored.

    Raises :class:`InputError` naming what was tried when nothing matches.
    """
    ref = ref.strip()
    if len(ref) < 8:
        raise InputError(f"candidate {ref!r}: give at least 8 characters of a candidate id or run key")
    exact = get_candidate(store, ref)
    if exact is not None:
        return exact
    records = [r for _, r in store.iter_records(CANDIDATES_KIND)]
    by_id = [r for r in records if str(r.get("candidate_id", "")).startswith(ref)]
    if len(by_id) == 1:
        return by_id[0]
    holding = [r for r in records if any(k.startswith(ref) or a.startswith(ref)
                                         for k, a in map(_run_refs, r.get("runs", {}).values()))]
    if holding:
        return max(holding, key=lambda r: r.get("created_at", ""))
    runs = [r for _, r in store.iter_records(RUNS_KIND)
            if str(r.get("run_key", "")).startswith(ref) or str(r.get("artifact", "")).startswith(ref)]
    if len(runs) == 1:
        return {**make_candidate(runs), "recorded": False}
    if len(by_id) > 1 or len(runs) > 1:
        raise InputError(f"candidate {ref!r} is ambiguous: {len(by_id)} candidates and {len(runs)} runs match; "
                         "give more characters")
    raise InputError(f"candidate {ref!r}: no candidate record and no run with that id, key or artifact in the store "
                     f"({store.location}); `alignment-ci train` prints the candidate id")


# ---------------------------------------------------------------------- baseline


def baseline_history(store: ArtifactStore) -> list[dict[str, Any]]:
    """Every baseline record, oldest first."""
    return [r for _, r in store.iter_records(BASELINES_KIND)]


def production_baseline(store: ArtifactStore) -> dict[str, Any] | None:
    """The baseline in force: ``{seq, candidate_id, candidate, set_by, reason, at, ...}``, or None."""
    keys = store.list_records(BASELINES_KIND)
    if not keys:
        return None
    record = store.get_record(BASELINES_KIND, keys[-1])
    if record is None:
        return None
    return {**record, "candidate": get_candidate(store, record["candidate_id"])}


def set_baseline(store: ArtifactStore, candidate: dict[str, Any], *, set_by: str, reason: str,
                 extra: dict[str, Any] | None = None, max_attempts: int = 100) -> dict[str, Any]:
    """Make ``candidate`` (a candidate record) the production baseline.

    A candidate that is not stored yet (``recorded: false``) is stored first. ``set_by`` is
    ``rollout`` or ``manual``; ``reason`` is kept with the record and in lineage. Setting the
    baseline that is already in force changes nothing and returns it.
    """
    if not reason.strip():
        raise InputError("a baseline change needs a reason")
    cid = candidate["candidate_id"]
    if store.get_record(CANDIDATES_KIND, cid) is None:
        stored = {k: v for k, v in candidate.items() if k != "recorded"}
        stored.setdefault("created_at", _now())
        store.put_record(CANDIDATES_KIND, cid, stored)
    current = production_baseline(store)
    if current is not None and current["candidate_id"] == cid:
        return {**current, "changed": False}
    for _ in range(max_attempts):
        keys = store.list_records(BASELINES_KIND)
        seq = int(keys[-1]) + 1 if keys else 1
        record = {"seq": seq, "candidate_id": cid, "set_by": set_by, "reason": reason, "at": _now(),
                  "previous": current["candidate_id"] if current else None, **(extra or {})}
        try:
            if store.put_record(BASELINES_KIND, f"{seq:012d}", record):
                break
        except WriteConflict:
            continue
    else:
        raise InputError("could not record the baseline: the store kept refusing the next record (concurrent writers?)")
    LineageLog(store).append(kind="baseline", subject=cid,
                             inputs=[current["candidate_id"]] if current else [],
                             data={"seq": seq, "set_by": set_by, "reason": reason, **(extra or {})})
    return {**record, "candidate": get_candidate(store, cid), "changed": True}


__all__ = [
    "BASELINES_KIND", "CANDIDATES_KIND", "ROLES", "baseline_history", "candidate_id", "get_candidate",
    "make_candidate", "production_baseline", "record_candidate", "resolve_candidate", "roles_of", "set_baseline",
]
