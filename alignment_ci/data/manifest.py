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
from ..lineage import LineageLog
from ..store import open_store
from ..store.base import sha256_file
from ..textsafety import pseudonymize, redact_pii, truncate
from .validate import validate_file

MANIFEST_SCHEMA_VERSION = 1
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_id(value: str, what: str) -> str:
    """Vendor and batch ids become path parts: letters, digits, `._-`, no traversal."""
    if not isinstance(value, str) or not _ID_RE.match(value) or ".." in value:
        raise InputError(
            f"invalid {what} {truncate(str(value), 80)!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no slashes, no '..')"
        )
    return value


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


def batch_statistics(parquet_path: Path) -> dict[str, Any]:
    """Counts and distributions a reviewer reads in the manifest."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(parquet_path)
    names = set(pf.schema_arrow.names)
    wanted = [c for c in ("item_id", "rater_id", "dimension", "choice", "rating", "ranking", "sampling_bucket", "sampling_reason", "is_gold") if c in names]
    df = pf.read(columns=wanted).to_pandas()
    per_dimension: dict[str, Any] = {}
    for dim, part in df.groupby("dimension", sort=True):
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
    store_uri: str,
    source: dict[str, Any],
) -> dict[str, Any]:
    """The manifest of an accepted batch (``ingest`` and the rater bridge both write this)."""
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
        "store_uri": store_uri,
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
    with tempfile.TemporaryDirectory(prefix="alignment-ci-ingest-") as tmp:
        normalized = Path(tmp) / "batch.parquet"
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
        stats = batch_statistics(normalized)
    manifest = build_manifest(
        config=config,
        vendor=vendor,
        report=report,
        stats=stats,
        digest=digest,
        store_uri=store.blob_uri(digest),
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
    """The dataset snapshot: sha256 over the sorted batch hashes, one per line."""
    batches = sorted((data["sha256"], data["batch_id"]) for _, data in iter_manifests(config) if "sha256" in data)
    hashes = sorted(h for h, _ in batches)
    digest = hashlib.sha256("\n".join(hashes).encode()).hexdigest()
    return {"snapshot": digest, "batches": [{"batch_id": b, "sha256": h} for h, b in batches]}
