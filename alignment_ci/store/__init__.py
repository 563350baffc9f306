"""Content-addressed artifact store: blobs by sha256 and write-once JSON records.

``open_store(config)`` picks the backend, first match wins (:func:`select_backend`):

1. the ``--store file|s3`` flag of the command line (it sets ``ALIGNMENT_CI_STORE``);
2. the environment: ``ALIGNMENT_CI_STORE`` (``file`` or ``s3``), else a non-empty
   ``ALIGNMENT_CI_S3_BUCKET`` selects ``s3``;
3. ``stores.artifacts.backend`` in alignment.yaml;
4. ``file``.

Either way, blobs committed in the repository under ``<paths.manifests>/blobs/`` (the
getting-started store, ``stores.commit_batches``) are read when the store lacks them.

* ``file`` (default): a directory, ``stores.artifacts.path`` resolved against the
  directory of alignment.yaml (default ``.alignment-ci/store``).
* ``s3``: a bucket through boto3. Environment variables override the config, so a
  workflow can point the same alignment.yaml at its own bucket:
  ``ALIGNMENT_CI_S3_BUCKET``, ``ALIGNMENT_CI_S3_PREFIX``, ``ALIGNMENT_CI_S3_ENDPOINT``;
  the region comes from ``stores.artifacts.region``, else ``AWS_REGION`` /
  ``AWS_DEFAULT_REGION``; credentials from the usual ``AWS_*`` chain.

Backends are imported lazily (boto3 only when ``s3`` is chosen).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StoreError
from .base import (
    ArtifactStore,
    BlobSource,
    WriteConflict,
    canonical_json,
    check_digest,
    check_name,
    sha256_file,
    sha256_hex,
)
from .local import FileStore
from .s3 import S3Store

if TYPE_CHECKING:
    from ..config import Config

__all__ = [
    "ArtifactStore",
    "BlobSource",
    "WriteConflict",
    "canonical_json",
    "check_digest",
    "check_name",
    "open_store",
    "repository_blobs_dir",
    "select_backend",
    "sha256_file",
    "sha256_hex",
]


BACKENDS = ("file", "s3")
STORE_ENV = "ALIGNMENT_CI_STORE"


def select_backend(config: "Config", env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """``(backend, why)``: the backend the precedence above picks, and the rule that picked it."""
    env = os.environ if env is None else env
    chosen = (env.get(STORE_ENV) or "").strip()
    if chosen:
        if chosen not in BACKENDS:
            raise StoreError(f"{STORE_ENV}={chosen!r} is not a store backend: use 'file' or 's3'")
        return chosen, f"{STORE_ENV}={chosen} (flag --store or environment)"
    if (env.get("ALIGNMENT_CI_S3_BUCKET") or "").strip():
        return "s3", "ALIGNMENT_CI_S3_BUCKET is set"
    settings = config.stores.artifacts
    if "backend" in settings.model_fields_set:
        return settings.backend, "stores.artifacts.backend in alignment.yaml"
    return settings.backend, "the default"


def repository_blobs_dir(config: "Config") -> Path:
    """Where committed batch blobs live: ``<paths.manifests>/blobs/<aa>/<sha256>``."""
    return config.resolve(config.paths.manifests) / "blobs"


def open_store(config: "Config") -> ArtifactStore:
    """The artifact store the precedence of :func:`select_backend` picks, with the
    repository's committed blobs as a read fallback."""
    settings = config.stores.artifacts
    backend, _ = select_backend(config)
    store: ArtifactStore
    if backend == "file":
        store = FileStore(config.resolve(settings.path))
    else:
        env = os.environ
        store = S3Store(
            bucket=env.get("ALIGNMENT_CI_S3_BUCKET") or settings.bucket or "",
            prefix=env.get("ALIGNMENT_CI_S3_PREFIX", settings.prefix),
            endpoint_url=env.get("ALIGNMENT_CI_S3_ENDPOINT") or settings.endpoint_url,
            region=settings.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
        )
    committed = repository_blobs_dir(config)
    if committed.is_dir():
        store.fallback_roots = (committed,)
    return store
