"""Pushing a label batch through the bridge: validate, store, manifest on a branch, pull request.

Order, so that a rejected or crashed push writes nothing half-done:

1. the upload is streamed to a temporary file (hashed, size-limited; :mod:`.upload`);
2. the same content from the same vendor already published? answer with that batch;
3. tool exports (Label Studio, Argilla) become canonical rows; :func:`validate_file`
   validates and writes the normalized, PII-scrubbed Parquet (nothing else is written
   for a rejected batch but its status row in the bridge's database);
4. the push claims ``(vendor, upload_key)`` with an INSERT: the unique constraint makes
   exactly one of several concurrent duplicate pushes the publisher; the others wait for
   it and answer with its batch and pull request;
5. the publisher stores the Parquet by hash, opens the pull request with the manifest on
   branch ``labels/<vendor>/<batch_id>`` and the label-health summary in its body, logs
   lineage (once per batch content, :meth:`LineageLog.append` ``once=``), and marks the
   batch ``pr_open``. A failure marks it ``failed``; pushing the same file again resumes
   (every step is idempotent).

A bridge killed while publishing leaves its batch ``received``: on start,
:func:`recover_interrupted` marks such batches ``failed`` (rolled back: the next push of
the same file publishes at once), and :func:`sweep_temporary` removes the upload
directories of dead processes. A duplicate push waits for a live publisher at most
``bridge.publish_wait_s`` counted from the claim (``claimed_at``), not from its own arrival.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from alignment_ci import lazy
from alignment_ci.config import Config
from alignment_ci.data.manifest import INGEST_TEMP_PREFIX, build_manifest, frame_statistics
from alignment_ci.data.validate import ValidationReport, validate_file
from alignment_ci.errors import AlignmentCIError, InputError
from alignment_ci.formats import ImportResult
from alignment_ci.formats.argilla import read_argilla_export
from alignment_ci.formats.labelstudio import read_labelstudio_export
from alignment_ci.ids import check_id
from alignment_ci.jsonl import write_jsonl
from alignment_ci.lineage import LineageLog
from alignment_ci.synth import make_pairwise_batch
from alignment_ci.quality.health import health_columns, label_health
from alignment_ci.report.render import render_health_markdown
from alignment_ci.tempdirs import sweep_stale
from alignment_ci.textsafety import escape_markdown, truncate

from .auth import VendorIdentity
from .db import FINAL_PUSH_STATUSES, Batch, Vendor, utcnow
from .state import Bridge

pq = lazy.module("pyarrow.parquet")

UPLOAD_FORMATS = ("jsonl", "csv", "parquet", "labelstudio", "argilla")
TOOL_FORMATS = ("labelstudio", "argilla")
UPLOAD_TEMP_PREFIX = "rater-bridge-"
PUBLISH_STEPS = ("claimed", "blob_stored", "pr_opened", "lineage_logged", "marked")
"""The points of the publish path, in order; ``ALIGNMENT_CI_BRIDGE_CRASH_AT=<step>`` kills the
process right after that step (the crash-injection tests use it)."""
CRASH_ENV = "ALIGNMENT_CI_BRIDGE_CRASH_AT"
_POLL_S = 0.05


def _crash_point(step: str) -> None:
    """Die like ``kill -9`` after ``step`` when asked to by the crash-injection tests."""
    if os.environ.get(CRASH_ENV) == step:
        os._exit(137)


@dataclass
class PushAnswer:
    """The HTTP status and JSON body of a push."""

    status_code: int
    body: dict[str, Any]


class BatchConflict(AlignmentCIError):
    """The batch id is already taken by different content from the same vendor."""


def upload_key(content_sha256: str, fmt: str, batch_id: str | None, dimension: str | None) -> str:
    """The idempotency key: the content's sha256 together with how it is to be read."""
    text = "\0".join([content_sha256, fmt, batch_id or "", dimension or ""])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------- manifest
def manifest_repo_path(config: Config, vendor: str, batch_id: str) -> str:
    """``datasets_manifest/batches/<vendor>/<batch_id>.yaml`` (``paths.manifests`` first), as a repository path."""
    base = config.paths.manifests.strip("/") or "datasets_manifest"
    return f"{base}/batches/{check_id(vendor, 'vendor')}/{check_id(batch_id, 'batch id')}.yaml"


def branch_name(vendor: str, batch_id: str) -> str:
    return f"labels/{vendor}/{batch_id}"


def pr_body(vendor: str, batch_id: str, manifest: dict[str, Any], manifest_path: str, health_markdown: str) -> str:
    return (
        f"## Label batch {escape_markdown(batch_id, 128)} from {escape_markdown(vendor, 128)}\n\n"
        f"Pushed through the rater bridge: {manifest['rows']} rows, {manifest['items']} items, "
        f"{manifest['raters']} raters, task type {escape_markdown(str(manifest['task_type']), 32)}.\n"
        f"Manifest: `{manifest_path}`; data: `{manifest['sha256']}` in the artifact store.\n\n"
        f"{health_markdown}"
    )


# ----------------------------------------------------------------------------- answers
_ISSUE_FIELDS = ("rows", "task_type", "errors", "warnings", "error_count", "warning_count")


def _issues(report: ValidationReport) -> dict[str, Any]:
    """The part of the validation report a vendor sees (no server paths)."""
    full = report.to_dict()
    return {key: full[key] for key in _ISSUE_FIELDS}


def _answer(row: Batch | None, issues: dict[str, Any], *, accepted: bool, batch_id: str | None, duplicate: bool) -> dict[str, Any]:
    return {
        "batch_id": batch_id,
        "accepted": accepted,
        "status": row.status if row is not None else "rejected",
        "rows": issues.get("rows", 0),
        "errors": issues.get("errors", []),
        "warnings": issues.get("warnings", []),
        "error_count": issues.get("error_count", len(issues.get("errors", []))),
        "warning_count": issues.get("warning_count", len(issues.get("warnings", []))),
        "duplicate": duplicate,
        "sha256": row.blob_sha256 if row is not None and accepted else None,
        "pr": {"number": row.pr_number, "url": row.pr_url} if row is not None and accepted and row.pr_url else None,
    }


def _published_answer(row: Batch, duplicate: bool) -> PushAnswer:
    issues = json.loads(row.report_json or "{}")
    return PushAnswer(200 if duplicate else 201, _answer(row, issues, accepted=True, batch_id=row.batch_id, duplicate=duplicate))


def _rejected(issues: dict[str, Any], batch_id: str | None, status_code: int = 422) -> PushAnswer:
    return PushAnswer(status_code, _answer(None, issues, accepted=False, batch_id=batch_id, duplicate=False))


def _single_error(kind: str, message: str, column: str | None = None, line: int | None = None) -> dict[str, Any]:
    return {"rows": 0, "errors": [{"line": line, "column": column, "kind": kind, "message": message}], "warnings": [],
            "error_count": 1, "warning_count": 0}


# ----------------------------------------------------------------------------- tool exports
def convert_tool_export(fmt: str, src: Path, dest: Path, batch_id: str | None, dimension: str | None,
                        config: Config) -> tuple[Path, ImportResult]:
    """A Label Studio / Argilla export → canonical JSONL rows at ``dest`` (:mod:`alignment_ci.formats`);
    returns the path and the import (its ``skipped`` annotations, each row's ``sources`` record)."""
    if not batch_id:
        raise InputError(f"format={fmt} needs the batch_id query parameter (a tool export carries no batch id)")
    check_id(batch_id, "batch id")
    dimension = dimension or config.taxonomy.default_dimension
    if config.taxonomy.get(dimension) is None:
        raise InputError(f"dimension {dimension!r} is not in the taxonomy ({', '.join(config.taxonomy.names)})")
    read = read_labelstudio_export if fmt == "labelstudio" else read_argilla_export
    result = read(src, batch_id, dimension=dimension, dimensions=config.taxonomy.names)
    write_jsonl(result.rows, dest)
    return dest, result


# ----------------------------------------------------------------------------- push
def push_batch(
    bridge: Bridge,
    vendor: VendorIdentity,
    upload_path: Path,
    content_sha256: str,
    size: int,
    fmt: str,
    workdir: Path,
    *,
    filename: str | None = None,
    batch_id_param: str | None = None,
    dimension_param: str | None = None,
    deadline: float | None = None,
    timings: dict[str, float] | None = None,
) -> PushAnswer:
    """Validate the uploaded file and, if accepted, publish it (see the module docstring). A push
    still validating at ``deadline`` (``time.monotonic()``; ``bridge.request_timeout_s`` after
    the request began) is refused with 422 before anything is stored. ``timings`` receives the
    milliseconds each step took (:data:`TIMED_STEPS`; the route sends them as ``Server-Timing``)."""
    clock = _Clock(timings)

    if fmt not in UPLOAD_FORMATS:
        raise InputError(f"unknown format {fmt!r}: use one of {', '.join(UPLOAD_FORMATS)}")
    key = upload_key(content_sha256, fmt, batch_id_param, dimension_param)
    with bridge.read_sessions() as s:
        existing = s.scalar(select(Batch).where(Batch.vendor_id == vendor.id, Batch.upload_key == key))
        s.commit()
    if existing is not None and existing.status in FINAL_PUSH_STATUSES:
        return _published_answer(existing, duplicate=True)

    to_validate, validate_fmt, imported = upload_path, fmt, None
    if fmt in TOOL_FORMATS:
        try:
            to_validate, imported = convert_tool_export(fmt, upload_path, workdir / "converted.jsonl", batch_id_param,
                                                       dimension_param, bridge.config)
        except InputError as exc:
            return _input_rejected(exc, "unreadable_export", upload_path, batch_id_param)
        validate_fmt = "jsonl"
        clock.lap("convert")
    normalized = workdir / "normalized.parquet"
    try:
        report = validate_file(to_validate, bridge.config, normalized_out=normalized, fmt=validate_fmt)
    except InputError as exc:
        return _input_rejected(exc, "unreadable_file", to_validate, batch_id_param)
    finally:
        clock.lap("validate")
    if deadline is not None and time.monotonic() > deadline:
        limit = bridge.settings.request_timeout_s
        return _rejected(_single_error("request_timeout", f"validating the batch took longer than the bridge's limit of "
                                       f"{limit:g} s (bridge.request_timeout_s); nothing was stored: split the batch"),
                         report.batch_id)
    issues = _issues(report)
    skipped = imported.skipped if imported is not None else []
    if imported is not None:  # lines of the converted batch: name the export's record too
        issues["errors"] = imported.with_sources(issues["errors"])
        issues["warnings"] = imported.with_sources(issues["warnings"])
    if skipped:  # annotations the tool importer left out (cancelled, ground truth, no preference)
        issues["warnings"] += [{"line": None, "column": None, "kind": "skipped_annotation",
                                "message": f"{s['where']}: {s['reason']}"} for s in skipped[:100]]
        issues["warning_count"] += len(skipped)
    batch_id = report.batch_id
    if report.accepted:
        try:
            check_id(batch_id, "batch id")
        except InputError as exc:
            issues = _single_error("invalid_batch_id", str(exc), column="batch_id", line=1)
            issues["rows"] = report.rows
            report.accepted = False
    if not report.accepted:
        _record_rejected(bridge, vendor, batch_id, key, content_sha256, fmt, issues)
        return _rejected(issues, batch_id)

    try:
        row, owner = _claim(bridge, vendor, batch_id, key, content_sha256, fmt, issues)
    except BatchConflict as exc:
        return _rejected(_single_error("batch_id_exists", str(exc), column="batch_id", line=1) | {"rows": report.rows}, batch_id, 409)
    if not owner:
        row, owner = _wait_or_take_over(bridge, row)
        if not owner:
            return _published_answer(row, duplicate=True)
    clock.lap("claim")
    _crash_point("claimed")
    source = {"file": truncate(filename or f"upload.{fmt}", 200), "format": fmt, "sha256": content_sha256, "bytes": size}
    try:
        row = _publish(bridge, vendor, row, report, normalized, source, clock)
    except BaseException:
        _set_status(bridge, row.id, "failed")
        raise
    return _published_answer(row, duplicate=False)


TIMED_STEPS = ("receive", "convert", "validate", "claim", "store", "health", "forge", "lineage", "mark")
"""The steps of a push, in order, as ``Server-Timing`` names them: streaming the body to disk,
converting a tool export, validation (reading, limits, checks, PII scrubbing, the normalized
Parquet), recording the batch row, the store write, the manifest statistics and label health
(with the rendered summary), the pull request, the lineage entry, the final status row."""


class _Clock:
    """Milliseconds per step into ``timings`` (nothing when it is None)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[step] = self.timings.get(step, 0.0) + 1000 * (now - self.last)
        self.last = now


def server_timing(timings: dict[str, float]) -> str:
    """The ``Server-Timing`` header value (W3C Server Timing) of a push's ``timings``."""
    return ", ".join(f"{step};dur={timings[step]:.1f}" for step in TIMED_STEPS if step in timings)


def _input_rejected(exc: InputError, kind: str, path: Path, batch_id: str | None) -> PushAnswer:
    """A file the readers refused. One over a validation limit (an InputError carrying
    ``setting``, ``limit`` and ``http_status``: 413 for sizes, 422 for structure) is answered
    with that status, kind ``limit_exceeded``, its line and column."""
    setting = getattr(exc, "setting", None)
    if setting is None:
        return _rejected(_single_error(kind, _clean(str(exc), path)), batch_id)
    status = getattr(exc, "http_status", 422)
    message = _clean(str(exc), path)
    if setting not in message:
        message += f" (limit {getattr(exc, 'limit', '?')}, setting {setting})"
    issues = _single_error("limit_exceeded", message, column=getattr(exc, "column", None), line=getattr(exc, "line", None))
    return _rejected(issues, batch_id, status if status in (413, 422) else 422)


def _clean(message: str, path: Path) -> str:
    """An error message without the bridge's temporary paths."""
    return message.replace(str(path), "the uploaded file").replace(str(path.parent), "")


def _record_rejected(bridge: Bridge, vendor: VendorIdentity, batch_id: str | None, key: str, sha: str, fmt: str,
                     issues: dict[str, Any]) -> None:
    """Remember a rejected push under its batch id (so its status reads ``rejected``), unless that
    batch id already belongs to an accepted batch. Only this status row is written."""
    try:
        check_id(batch_id, "batch id")
    except InputError:
        return
    stored = json.dumps(issues)
    for _ in range(3):
        with bridge.sessions() as s:
            row = s.scalar(select(Batch).where(Batch.vendor_id == vendor.id, Batch.batch_id == batch_id))
            if row is not None and row.status != "rejected":
                s.commit()
                return
            now = utcnow()
            try:
                if row is None:
                    s.add(Batch(vendor_id=vendor.id, batch_id=batch_id, upload_key=key, content_sha256=sha, format=fmt,
                                status="rejected", rows=issues.get("rows"), report_json=stored, created_at=now,
                                updated_at=now, claimed_at=now))
                else:
                    row.upload_key, row.content_sha256, row.format = key, sha, fmt
                    row.report_json, row.rows, row.updated_at = stored, issues.get("rows"), now
                s.commit()
                return
            except SAIntegrityError:
                s.rollback()


def _claim(bridge: Bridge, vendor: VendorIdentity, batch_id: str, key: str, sha: str, fmt: str,
           issues: dict[str, Any]) -> tuple[Batch, bool]:
    """Insert the batch row; (row, True) when this push owns publishing it, (row, False) when
    another push of the same content got there first."""
    stored = json.dumps(issues)
    for _ in range(20):
        with bridge.sessions() as s:
            same = s.scalar(select(Batch).where(Batch.vendor_id == vendor.id, Batch.upload_key == key))
            if same is not None and same.status != "rejected":
                s.commit()
                return same, False
            taken = s.scalar(select(Batch).where(Batch.vendor_id == vendor.id, Batch.batch_id == batch_id))
            now = utcnow()
            try:
                if taken is None:
                    row = Batch(vendor_id=vendor.id, batch_id=batch_id, upload_key=key, content_sha256=sha, format=fmt,
                                status="received", rows=issues["rows"], report_json=stored, created_at=now,
                                updated_at=now, claimed_at=now)
                    s.add(row)
                    s.commit()
                    return row, True
                if taken.upload_key == key and taken.status != "rejected":
                    s.commit()  # the same content, committed between the two reads above
                    return taken, False
                if taken.status != "rejected":
                    s.commit()
                    raise BatchConflict(
                        f"batch id {batch_id!r} already holds a different batch from this vendor (status "
                        f"{taken.status}); give the new batch its own batch_id"
                    )
                result = s.execute(
                    update(Batch)
                    .where(Batch.id == taken.id, Batch.status == "rejected")
                    .values(upload_key=key, content_sha256=sha, format=fmt, status="received", rows=issues["rows"],
                            report_json=stored, updated_at=now, claimed_at=now)
                )
                s.commit()
                if result.rowcount == 1:
                    return s.get(Batch, taken.id, populate_existing=True), True
            except SAIntegrityError:
                s.rollback()  # a concurrent push inserted first: look again
        time.sleep(_POLL_S)
    raise AlignmentCIError("could not record the batch under heavy contention; push again")


def _claim_age_s(claimed_at: datetime) -> float:
    claimed = claimed_at if claimed_at.tzinfo else claimed_at.replace(tzinfo=timezone.utc)
    return (utcnow() - claimed).total_seconds()


def _wait_or_take_over(bridge: Bridge, row: Batch) -> tuple[Batch, bool]:
    """Wait for the push that owns ``row`` to publish it; take over when it failed, or when it
    stalled: its claim is older than ``publish_wait_s`` (counted from ``claimed_at``)."""
    while True:
        with bridge.sessions() as s:
            current = s.get(Batch, row.id)
            s.commit()
        if current is None:
            raise AlignmentCIError("the batch vanished while being published; push again")
        if current.status in FINAL_PUSH_STATUSES:
            return current, False
        stalled = _claim_age_s(current.claimed_at) >= bridge.settings.publish_wait_s
        if current.status == "failed" or stalled:
            with bridge.sessions() as s:
                cond = Batch.status == "failed" if not stalled else Batch.status.in_(("failed", "received"))
                result = s.execute(
                    update(Batch).where(Batch.id == row.id, cond, Batch.claimed_at == current.claimed_at)
                    .values(status="received", claimed_at=utcnow(), updated_at=utcnow())
                )
                s.commit()
            if result.rowcount == 1:
                with bridge.sessions() as s:
                    mine = s.get(Batch, row.id)
                    s.commit()
                return mine, True
        time.sleep(_POLL_S)


def _publish(bridge: Bridge, vendor: VendorIdentity, row: Batch, report: Any, normalized: Path,
             source: dict[str, Any], clock: _Clock | None = None) -> Batch:
    clock = clock or _Clock(None)
    config = bridge.config
    batch_id = row.batch_id
    store = bridge.store
    digest = store.put_blob(normalized)
    clock.lap("store")
    _crash_point("blob_stored")
    # One read of the batch for the manifest's statistics and the label health, without the
    # free text neither looks at (prompts and responses are most of the bytes).
    frame = pq.read_table(normalized, columns=health_columns(pq.read_schema(normalized).names)).to_pandas()
    stats = frame_statistics(frame)
    manifest = build_manifest(config=config, vendor=vendor.name, report=report, stats=stats, digest=digest,
                              store_uri=store.blob_uri(digest), source=source)
    repo_path = manifest_repo_path(config, vendor.name, batch_id)
    health = label_health(frame, config, warnings=manifest["warnings"],
                          bootstrap_samples=bridge.settings.health_bootstrap_samples)
    del frame
    for entry in health["dimensions"].values():
        # health.md.j2 reads both keys under StrictUndefined; label_health sets only the task type's one.
        entry.setdefault("choices", None)
        entry.setdefault("ratings", None)
    body = pr_body(vendor.name, batch_id, manifest, repo_path, render_health_markdown(health))
    clock.lap("health")
    pr = bridge.forge.open_pull_request(
        branch=branch_name(vendor.name, batch_id),
        base=bridge.settings.base_branch,
        title=f"Label batch {batch_id} from {vendor.name}",
        body=body,
        files={repo_path: yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True).encode("utf-8")},
    )
    clock.lap("forge")
    _crash_point("pr_opened")
    LineageLog(store).append(
        kind="ingest",
        subject=digest,
        inputs=[source["sha256"]],
        data={"batch_id": batch_id, "vendor": vendor.name, "rows": stats["rows"], "raters": stats["rater_ids"],
              "manifest": repo_path, "pull_request": pr.url, "via": "rater_bridge"},
        once=ingest_once_key(vendor.name, batch_id, digest),
    )
    clock.lap("lineage")
    _crash_point("lineage_logged")
    with bridge.sessions() as s:
        current = s.get(Batch, row.id)
        current.status = "pr_open"
        current.blob_sha256 = digest
        current.manifest_path = repo_path
        current.pr_number = pr.number
        current.pr_url = pr.url
        current.rows = stats["rows"]
        current.updated_at = utcnow()
        s.commit()
    clock.lap("mark")
    _crash_point("marked")
    return current


def warm_up(config: Config) -> None:
    """Push a tiny synthetic batch through validation, label health and the report template, so
    that the first real push after a start does not pay for importing pandera and scipy and
    compiling the template (about 3 s). ``alignment-ci bridge serve`` calls it before listening;
    a failure here only costs the first push that time again."""
    with tempfile.TemporaryDirectory(prefix="rater-bridge-warm-up-") as tmp:
        path = write_jsonl(make_pairwise_batch(batch_id="warm-up", n_items=12, raters_per_item=3,
                                               dimensions=[config.taxonomy.default_dimension]), Path(tmp) / "batch.jsonl")
        validate_file(path, config, normalized_out=Path(tmp) / "batch.parquet")
        frame = pq.read_table(Path(tmp) / "batch.parquet").to_pandas()
        render_health_markdown(label_health(frame, config, bootstrap_samples=10))


def ingest_once_key(vendor: str, batch_id: str, digest: str) -> str:
    """The lineage idempotency key of publishing ``digest`` as ``vendor``'s ``batch_id``."""
    return hashlib.sha256("\0".join(("bridge-ingest", vendor, batch_id, digest)).encode("utf-8")).hexdigest()


def recover_interrupted(bridge: Bridge, started_at: datetime) -> int:
    """Roll back publishes that a dead bridge left ``received`` (claimed before ``started_at``, when
    this process started): they become ``failed``, so the next push of the same file publishes at
    once (every publish step is idempotent). Returns how many."""
    with bridge.sessions() as s:
        result = s.execute(
            update(Batch).where(Batch.status == "received", Batch.claimed_at < started_at)
            .values(status="failed", updated_at=utcnow())
        )
        s.commit()
    return int(result.rowcount or 0)


def sweep_temporary() -> list[str]:
    """Remove upload directories (raw, unscrubbed uploads) and partial ingest Parquet left by
    processes that were killed; returns the paths removed."""
    removed = sweep_stale(UPLOAD_TEMP_PREFIX) + sweep_stale(INGEST_TEMP_PREFIX)
    return [str(p) for p in removed]


def _set_status(bridge: Bridge, row_id: int, status: str) -> None:
    with bridge.sessions() as s:
        s.execute(update(Batch).where(Batch.id == row_id).values(status=status, updated_at=utcnow()))
        s.commit()


# ----------------------------------------------------------------------------- status
def batch_status(bridge: Bridge, vendor: VendorIdentity, batch_id: str) -> dict[str, Any] | None:
    """The status of the vendor's batch ``batch_id``; None when it has none by that id."""
    with bridge.read_sessions() as s:
        row = s.scalar(select(Batch).where(Batch.vendor_id == vendor.id, Batch.batch_id == batch_id))
        s.commit()
    return _status_dict(row) if row is not None else None


def list_batches(bridge: Bridge, vendor: VendorIdentity, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    with bridge.read_sessions() as s:
        rows = s.scalars(
            select(Batch).where(Batch.vendor_id == vendor.id).order_by(Batch.id.desc()).limit(limit).offset(offset)
        ).all()
        s.commit()
    return [_status_dict(r) for r in rows]


def _iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).isoformat()


def _status_dict(row: Batch) -> dict[str, Any]:
    issues = json.loads(row.report_json or "{}")
    return {
        "batch_id": row.batch_id,
        "status": row.status,
        "format": row.format,
        "rows": row.rows,
        "sha256": row.blob_sha256,
        "pr": {"number": row.pr_number, "url": row.pr_url} if row.pr_url else None,
        "error_count": issues.get("error_count", 0),
        "warning_count": issues.get("warning_count", 0),
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "merged_at": _iso(row.merged_at),
    }


def mark_batch(bridge: Bridge, vendor_name: str, batch_id: str, status: str) -> dict[str, Any]:
    """Record what happened to a batch's pull request (``gates_passed``, ``gates_failed``, ``merged``);
    the alignment-PR and merge workflows call this through ``alignment-ci bridge mark``."""
    allowed = ("pr_open", "gates_passed", "gates_failed", "merged")
    if status not in allowed:
        raise InputError(f"status {status!r} is not one of {', '.join(allowed)}")
    with bridge.sessions() as s:
        row = s.scalar(
            select(Batch).join(Vendor, Vendor.id == Batch.vendor_id).where(Vendor.name == vendor_name, Batch.batch_id == batch_id)
        )
        if row is None or row.status not in FINAL_PUSH_STATUSES:
            s.commit()
            raise InputError(f"vendor {vendor_name!r} has no published batch {batch_id!r}")
        row.status = status
        row.updated_at = utcnow()
        if status == "merged" and row.merged_at is None:
            row.merged_at = row.updated_at
        s.commit()
        return _status_dict(row)

