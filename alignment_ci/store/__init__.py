"""Content-addressed artifact store: blobs by sha256 and write-once JSON records.

``open_store(config)`` picks the backend named by ``config.stores.artifacts.backend``:

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
    "sha256_file",
    "sha256_hex",
]


def open_store(config: "Config") -> ArtifactStore:
    """The artifact store configured in ``config.stores.artifacts`` (env overrides for S3)."""
    settings = config.stores.artifacts
    if settings.backend == "file":
        return FileStore(config.resolve(settings.path))
    if settings.backend == "s3":
        env = os.environ
        return S3Store(
            bucket=env.get("ALIGNMENT_CI_S3_BUCKET") or settings.bucket or "",
            prefix=env.get("ALIGNMENT_CI_S3_PREFIX", settings.prefix),
            endpoint_url=env.get("ALIGNMENT_CI_S3_ENDPOINT") or settings.endpoint_url,
            region=settings.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
        )
    raise StoreError(f"unknown artifact store backend {settings.backend!r}: use 'file' or 's3'")
