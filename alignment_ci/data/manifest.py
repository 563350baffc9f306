"""Ingest label batches and keep their manifests.

A manifest (``datasets_manifest/batches/<vendor>/<batch_id>.yaml``) is the reviewable,
in-git description of a batch whose data lives in the artifact store, named by the
sha256 of its normalized Parquet. The dataset snapshot hash that training records is
the sha256 over the sorted batch hashes.

Order of writes on ingest, so that a failure never leaves a half-done batch: validate
(nothing written) → blob into the store (content-addressed, harmless if orphaned) →
manifest (temp file + rename) → lineage entry.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from .. import __version__
from ..config import Config
from ..atomic import write_atomic as _write_atomic
from ..errors import InputError
from ..errors import IntegrityError, StoreError
from ..ids import check_id
from ..lineage import LineageLog
from ..store import open_store
from ..store import repository_blobs_dir
from ..store.base import sha256_file
from ..store.base import blob_key
from ..tempdirs import sweep_stale, tempdir
from ..textsafety import pseudonymize, redact_pii, truncate
from .readers import read_batch
from .validate import validate_file

MANIFEST_SCHEMA_VERSION = 1
INGEST_TEMP_PREFIX = "alignment-ci-ingest-"


def manifests_dir(config: Config) -> Path:
    return config.resolve(config.paths.manifests)


def batches_dir(config: Config) -> Path:
    return manifests_dir(config) / "batches"


def manifest_path(config: Config, vendor: str, batch_id: str) -> Path:
    return batches_dir(config) / check_id(vendor, "vendor") / f"{check_id(batch_id, 'batch id')}.yaml"


def iter_manifests(config: Config) -> list[tuple[Path, dict[str, Any]]]:
    """Every batch manifest, sorted by path. Unreadable files raise InputError."""
    found = []
    root = batches_dir(config)
    if not root.exists():
        return found
    for path in sorted(root.glob("*/*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: unreadable manifest: {exc}") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: a manifest must be a mapping")
        found.append((path, data))
    return found


def find_batch(config: Config, batch_id: str) -> tuple[Path, dict[str, Any]] | None:
    for path, data in iter_manifests(config):
        if data.get("batch_id") == batch_id:
            return path, data
    return None


STATISTICS_COLUMNS = ("item_id", "rater_id", "dimension", "choice", "rating", "ranking", "sampling_bucket",
                      "sampling_reason", "is_gold")


def batch_statistics(parquet_path: Path) -> dict[str, Any]:
    """Counts and distributions a reviewer reads in the manifest."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(parquet_path)
    names = set(pf.schema_arrow.names)
    return frame_statistics(pf.read(columns=[c for c in STATISTICS_COLUMNS if c in names]).to_pandas())


def frame_statistics(df: Any) -> dict[str, Any]:
    """:func:`batch_statistics` of a canonical frame already in memory (it reads ``STATISTICS_COLUMNS``)."""
    per_dimension: dict[str, Any] = {}
    split = df[[c for c in ("dimension", "item_id", "rater_id", "choice", "rating") if c in df.columns]]
    for dim, part in split.groupby("dimension", sort=True):
        entry: dict[str, Any] = {
            "rows": int(len(part)),
            "items": int(part["item_id"].nunique()),
            "raters": int(part["rater_id"].nunique()),
        }
        if "choice" in part:
            entry["choices"] = {str(k): int(v) for k, v in part["choice"].value_counts().sort_index().items()}
        if "rating" in part:
            entry["ratings"] = {str(int(k)): int(v) for k, v in part["rating"].value_counts().sort_index().items()}
        per_dimension[str(dim)] = entry
    sampling: dict[str, Any] = {"buckets": {}, "reasons": []}
    if "sampling_bucket" in df:
        counts = df["sampling_bucket"].dropna().value_counts().sort_index()
        sampling["buckets"] = {truncate(redact_pii(str(k)), 64): int(v) for k, v in counts.items()}
    if "sampling_reason" in df:
        reasons = sorted(df["sampling_reason"].dropna().unique().tolist())
        sampling["reasons"] = [truncate(redact_pii(str(r)), 200) for r in reasons[:50]]
        if len(reasons) > 50:
            sampling["reasons_omitted"] = len(reasons) - 50
    return {
        "rows": int(len(df)),
        "items": int(df["item_id"].nunique()),
        "raters": int(df["rater_id"].nunique()),
        "gold_rows": int(df["is_gold"].fillna(False).astype(bool).sum()) if "is_gold" in df else 0,
        "rater_ids": sorted({pseudonymize(str(r)) for r in df["rater_id"].unique()}),
        "dimensions": per_dimension,
        "sampling": sampling,
    }


def build_manifest(
    *,
    config: Config,
    vendor: str,
    report: Any,
    stats: dict[str, Any],
    digest: str,
    store_uri: str | None = None,
    source: dict[str, Any],
) -> dict[str, Any]:
    """The manifest of an accepted batch (``ingest`` and the rater bridge both write this).

    ``store_uri`` is always written relative to the store (``blobs/<aa>/<sha256>``), never
    the absolute place on the machine that ingested, so a fresh clone or another backend
    finds the blob by its hash. The argument is accepted for older callers and ignored.
    Manifests written before this rule (``file:///…`` or ``s3://…``) still read and verify:
    lookups go by ``sha256``.
    """
    del store_uri
    warnings: dict[str, int] = {}
    for issue in report.warnings:
        warnings[issue.kind] = warnings.get(issue.kind, 0) + 1
    return {
        "schema": MANIFEST_SCHEMA_VERSION,
        "batch_id": report.batch_id,
        "vendor": vendor,
        "task_type": report.task_type,
        "taxonomy_version": config.taxonomy.version,
        "rows": stats["rows"],
        "items": stats["items"],
        "raters": stats["raters"],
        "gold_rows": stats["gold_rows"],
        "dimensions": stats["dimensions"],
        "sha256": digest,
        "store_uri": blob_key(digest),
        "format": "parquet",
        "source": source,
        "sampling": stats["sampling"],
        "warnings": {"pii": warnings.get("pii", 0), "formula": warnings.get("formula", 0), **warnings},
        "rater_ids": stats["rater_ids"],
        "ingested_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tool_version": __version__,
    }


@dataclass
class IngestResult:
    accepted: bool
    report: Any
    batch_id: str | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    manifest_path: Path | None = None
    already_ingested: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = self.report.to_dict()
        data.update(
            {
                "batch_id": self.batch_id,
                "already_ingested": self.already_ingested,
                "manifest_path": str(self.manifest_path) if self.manifest_path else None,
                "manifest": self.manifest or None,
            }
        )
        return data


def ingest_batch(path: str | Path, vendor: str, config: Config, *, task_type: str | None = None, store=None, lineage=None) -> IngestResult:
    """Validate ``path``; if accepted, store it by hash, write its manifest, log lineage.

    Re-ingesting a file with identical content is a no-op (``already_ingested``); a
    different file under an existing batch id is an InputError. A rejected batch
    writes nothing anywhere.
    """

    path = Path(path)
    check_id(vendor, "vendor")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    source_sha = sha256_file(path)
    sweep_stale(INGEST_TEMP_PREFIX)  # partial Parquet left by an ingest that was killed
    with tempdir(INGEST_TEMP_PREFIX) as tmp:
        normalized = tmp / "batch.parquet"
        report = validate_file(path, config, task_type=task_type, normalized_out=normalized)
        if not report.accepted:
            return IngestResult(accepted=False, report=report, batch_id=report.batch_id)
        batch_id = check_id(report.batch_id, "batch id")
        existing = find_batch(config, batch_id)
        if existing is not None:
            existing_path, existing_manifest = existing
            if existing_manifest.get("source", {}).get("sha256") == source_sha and existing_manifest.get("vendor") == vendor:
                return IngestResult(True, report, batch_id, existing_manifest, existing_path, already_ingested=True)
            raise InputError(
                f"{path}: batch id {batch_id!r} already exists ({existing_path}) with different content "
                f"or vendor; give the new batch its own batch_id"
            )
        store = store if store is not None else open_store(config)
        digest = store.put_blob(normalized)
        if config.stores.commit_batches:
            commit_blob(config, normalized, digest)
        stats = batch_statistics(normalized)
    manifest = build_manifest(
        config=config,
        vendor=vendor,
        report=report,
        stats=stats,
        digest=digest,
        source={"file": truncate(path.name, 200), "sha256": source_sha, "bytes": path.stat().st_size},
    )
    target = manifest_path(config, vendor, batch_id)
    _write_atomic(target, yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True))
    log = lineage if lineage is not None else LineageLog(store)
    log.append(
        kind="ingest",
        subject=digest,
        inputs=[source_sha],
        data={"batch_id": batch_id, "vendor": vendor, "rows": stats["rows"], "raters": stats["rater_ids"], "manifest": str(target.relative_to(config.root)) if target.is_relative_to(config.root) else str(target)},
    )
    return IngestResult(True, report, batch_id, manifest, target)


def commit_blob(config: Config, path: Path, digest: str) -> Path:
    """Copy a batch's normalized file to ``<manifests>/blobs/<aa>/<sha256>`` (atomic, idempotent).

    The getting-started store (``stores.commit_batches: true``): the blob is committed with
    its manifest (Git LFS keeps clones light), so CI reads the batch from the checkout.
    """
    target = repository_blobs_dir(config) / digest[:2] / digest
    if not target.is_file() or sha256_file(target) != digest:
        _write_atomic(target, path.read_bytes())
    return target


def verify_manifests(config: Config, store=None) -> dict[str, Any]:
    """Check every manifest: its blob exists, hashes to its name, and has the stated rows."""
    import pyarrow.parquet as pq


    store = store if store is not None else open_store(config)
    problems: list[str] = []
    manifests = iter_manifests(config)
    for path, data in manifests:
        digest = data.get("sha256")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            problems.append(f"{path}: sha256 missing or malformed")
            continue
        expected = path.stem
        if data.get("batch_id") != expected or data.get("vendor") != path.parent.name:
            problems.append(f"{path}: batch_id/vendor do not match the file's place ({path.parent.name}/{expected})")
        with tempfile.TemporaryDirectory(prefix="alignment-ci-verify-") as tmp:
            local = Path(tmp) / "blob.parquet"
            try:
                store.get_blob_to_path(digest, local)
            except IntegrityError as exc:
                problems.append(f"{path}: stored blob is corrupt: {exc}")
                continue
            except StoreError as exc:
                problems.append(f"{path}: {exc}")
                continue
            rows = pq.ParquetFile(local).metadata.num_rows
            if rows != data.get("rows"):
                problems.append(f"{path}: manifest says {data.get('rows')} rows, stored batch has {rows}")
    return {"ok": not problems, "checked": len(manifests), "problems": problems}


def snapshot(config: Config) -> dict[str, Any]:
    """The dataset snapshot: sha256 over the sorted batch hashes, one per line. A batch with
    excluded raters contributes ``<sha256> excluded:<id>,<id>`` instead, so an exclusion is a
    new snapshot (and a new training run), never a cache hit on the old data."""
    batches = sorted((data["sha256"], data["batch_id"], excluded_rater_ids(data))
                     for _, data in iter_manifests(config) if "sha256" in data)
    lines = sorted(h + (f" excluded:{','.join(x)}" if x else "") for h, _, x in batches)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return {"snapshot": digest, "batches": [{"batch_id": b, "sha256": h, **({"excluded_raters": x} if x else {})}
                                            for h, b, x in batches]}


# ---------------------------------------------------------------------- rater exclusions


def excluded_rater_ids(manifest: dict[str, Any]) -> list[str]:
    """The rater ids a manifest's ``excluded_raters`` lists (sorted)."""
    entries = manifest.get("excluded_raters") or []
    return sorted({str(e["rater_id"]) for e in entries if isinstance(e, dict) and e.get("rater_id")})


def drop_excluded(df: Any, rater_ids: list[str]) -> Any:
    """``df`` (a canonical label frame) without the judgments of ``rater_ids`` (raw ids or
    their pseudonyms, as manifests and reports show them)."""
    if not rater_ids:
        return df
    drop = set(rater_ids)
    keep = ~df["rater_id"].map(lambda r: str(r) in drop or pseudonymize(str(r)) in drop)
    return df.loc[keep]


def exclude_raters(config: Config, batch_id: str, raters: list[str], reason: str, *, by: str | None = None,
                   store=None) -> dict[str, Any]:
    """Record in a batch's manifest that ``raters`` are excluded, with the reason.

    The manifest change is the reviewed change (it goes through the pull request); aggregation,
    training, the gold set and the label-quality gate leave those raters' judgments out, and the
    dataset snapshot changes. A ``exclude-raters`` lineage entry records who and why. A rater
    that is not in the batch is an :class:`InputError`; one already excluded is left as it was.
    """

    if not reason or not reason.strip():
        raise InputError("excluding raters needs a reason (--reason): the reviewer of the change reads it")
    if not raters:
        raise InputError("name at least one rater to exclude (--rater ID)")
    found = find_batch(config, batch_id)
    if found is None:
        raise InputError(f"batch {batch_id!r}: no manifest under {batches_dir(config)}")
    path, manifest = found
    known = set(manifest.get("rater_ids") or [])
    unknown = [r for r in raters if known and r not in known and pseudonymize(r) not in known]
    if unknown:
        raise InputError(f"{path}: rater(s) {', '.join(unknown)} not in batch {batch_id} "
                         f"(its raters: {', '.join(sorted(known))})")
    already = set(excluded_rater_ids(manifest))
    new = [r for r in dict.fromkeys(raters) if r not in already]
    if not new:
        return {"batch_id": batch_id, "manifest": str(path), "excluded": [], "already_excluded": sorted(already)}
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    entries = list(manifest.get("excluded_raters") or [])
    entries += [{"rater_id": r, "reason": truncate(reason.strip(), 500), "at": at, **({"by": by} if by else {})}
                for r in new]
    manifest["excluded_raters"] = entries
    _write_atomic(path, yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True))
    store = store if store is not None else open_store(config)
    LineageLog(store).append(kind="exclude-raters", subject=str(manifest.get("sha256", batch_id)),
                             inputs=[str(manifest["sha256"])] if manifest.get("sha256") else [],
                             data={"batch_id": batch_id, "raters": new, "reason": reason.strip(), "by": by})
    return {"batch_id": batch_id, "manifest": str(path), "excluded": new, "already_excluded": sorted(already)}


@dataclass
class StoredBatch:
    """A batch read back from the store, with its manifest (the frame holds every judgment;
    ``excluded_raters`` are the ones the manifest excludes)."""

    batch_id: str
    vendor: str | None
    manifest_path: Path
    manifest: dict[str, Any]
    frame: Any
    excluded_raters: list[str]


def load_stored_batches(config: Config, refs: list[str] | None = None, store=None) -> list[StoredBatch]:
    """Batches by id or manifest path (``refs``; default: every manifest), read from the store
    (hash-checked). An unknown batch or a manifest without data is an :class:`InputError`."""

    manifests = iter_manifests(config)
    if refs:
        chosen = []
        for ref in refs:
            path = Path(ref)
            match = next(((p, m) for p, m in manifests if m.get("batch_id") == ref or p.resolve() == path.resolve()), None)
            if match is None and ref.endswith((".yaml", ".yml")) and path.is_file():
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
                match = (path, data) if isinstance(data, dict) else None
            if match is None:
                raise InputError(f"batch {ref!r}: no manifest with that batch id or path under {batches_dir(config)}")
            chosen.append(match)
    else:
        chosen = manifests
    store = store if store is not None else open_store(config)
    out = []
    with tempfile.TemporaryDirectory(prefix="alignment-ci-batches-") as tmp:
        for i, (path, manifest) in enumerate(chosen):
            if not manifest.get("sha256"):
                raise InputError(f"{path}: the manifest names no stored data (sha256)")
            local = Path(tmp) / f"{i}.parquet"
            store.get_blob_to_path(manifest["sha256"], local)
            frame = read_batch(local, default_dimension=config.taxonomy.default_dimension)
            out.append(StoredBatch(str(manifest.get("batch_id", path.stem)), manifest.get("vendor"), path, manifest,
                                   frame, excluded_rater_ids(manifest)))
    return out
