"""The ``s3`` backend: content-addressed blobs and records in an S3 bucket (boto3).

Write-once on the server, not only in this code: every write is a conditional
``PutObject``/``CompleteMultipartUpload`` with ``If-None-Match: *``, so S3 refuses to
replace an existing key even when two writers race. A ``412 Precondition Failed``
means "the key exists": for a blob the existing object's size and recorded sha256 are
compared (content-addressed, so equal means done); for a record the existing bytes
are compared (identical is success, different is :class:`WriteConflict`). A
``409 ConditionalRequestConflict`` (a concurrent conditional write in flight) is
retried. Other transient errors are retried by botocore's ``standard`` retry mode.

Atomicity: a single ``PutObject`` is all-or-nothing. Larger blobs use a multipart
upload, which S3 does not show under its key until ``CompleteMultipartUpload``; any
failure before that (the source raising, a network error, a changed file) aborts
the upload, so nothing is ever visible half-written. A process killed mid-upload
leaves an incomplete multipart upload that is invisible to readers and listings but
is billed until aborted: give the bucket a lifecycle rule
``AbortIncompleteMultipartUpload`` (e.g. after 1 day).

The blob's key is its sha256, which is known only after reading the content, so
the source is read twice: once to hash, once to upload (a non-seekable stream is
first spooled to a temporary file). The second read is hashed too, and a source
that changed in between aborts the upload. ``PutObject`` also sends
``ChecksumSHA256`` so S3 itself checks the bytes it received.
"""

from __future__ import annotations

import base64
import hashlib
import random
import tempfile
import time
from typing import IO, Any

from ..errors import IntegrityError, StoreError
from .base import (
    ArtifactStore,
    BlobSource,
    CHUNK_SIZE,
    blob_key,
    check_digest,
    copy_hashing,
    open_source,
    sha256_hex,
)

MiB = 1024 * 1024
_SINGLE_PUT_LIMIT = 5 * 1024 * MiB  # S3's hard limit for one PutObject
_MIN_PART = 5 * MiB  # S3's minimum part size (all parts but the last)


class S3Store(ArtifactStore):
    """Blobs and records under ``s3://bucket/prefix/``.

    Parameters:
        bucket: bucket name.
        prefix: key prefix inside the bucket (no leading or trailing ``/`` needed).
        endpoint_url: a non-AWS endpoint (MinIO, moto, R2...); None for AWS.
        region: region name; None lets botocore decide (AWS_DEFAULT_REGION).
        client: a ready boto3 S3 client (then endpoint/region/max_attempts are unused).
        max_attempts: total attempts per request in botocore's ``standard`` retry mode.
        multipart_threshold: blobs larger than this are uploaded in parts.
        part_size: size of each part (at least 5 MiB, S3's minimum).
    """

    backend = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "alignment-ci",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
        max_attempts: int = 5,
        multipart_threshold: int = 64 * MiB,
        part_size: int = 16 * MiB,
    ) -> None:
        if not bucket:
            raise StoreError(
                "the s3 artifact store needs a bucket: set stores.artifacts.bucket in alignment.yaml "
                "or the ALIGNMENT_CI_S3_BUCKET environment variable"
            )
        if part_size < _MIN_PART:
            raise StoreError(f"part_size must be at least {_MIN_PART} bytes (S3's minimum part size), got {part_size}")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.multipart_threshold = min(multipart_threshold, _SINGLE_PUT_LIMIT)
        self.part_size = part_size
        self.max_attempts = max_attempts
        self.client = client if client is not None else make_client(endpoint_url, region, max_attempts)

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def _key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    # --------------------------------------------------------- requests
    def _call(self, op: str, key: str, **kwargs: Any) -> Any:
        """Call a client method; turn connection/credential problems into StoreError.

        ClientError (an S3 answer) is left to the caller, which knows which codes it expects.
        """
        from botocore.exceptions import BotoCoreError

        try:
            return getattr(self.client, op)(Bucket=self.bucket, Key=key, **kwargs)
        except BotoCoreError as exc:
            raise StoreError(
                f"S3 request {op} for s3://{self.bucket}/{key} failed: {exc}. "
                "Check the endpoint (ALIGNMENT_CI_S3_ENDPOINT), network and AWS credentials"
            ) from None

    def _fail(self, exc: Exception, op: str, key: str) -> StoreError:
        code, status = _error_code(exc)
        hint = {
            "NoSuchBucket": f"bucket {self.bucket!r} does not exist: create it or set ALIGNMENT_CI_S3_BUCKET",
            "AccessDenied": "the credentials may not access this bucket/prefix: check AWS_* and the bucket policy",
            "InvalidAccessKeyId": "the AWS access key is not valid for this endpoint",
            "SignatureDoesNotMatch": "the AWS secret key does not match the access key",
        }.get(code, "check the bucket, prefix, endpoint and credentials")
        return StoreError(f"S3 {op} s3://{self.bucket}/{key} failed ({status} {code}): {hint}")

    def _put_once(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> bool:
        """Conditional PutObject. True if created, False if the key already existed."""
        from botocore.exceptions import ClientError

        checksum = base64.b64encode(bytes.fromhex(sha256_hex(body))).decode("ascii")
        for attempt in range(self.max_attempts):
            try:
                self._call(
                    "put_object",
                    key,
                    Body=body,
                    IfNoneMatch="*",
                    ChecksumSHA256=checksum,
                    Metadata=metadata or {},
                )
                return True
            except ClientError as exc:
                code, status = _error_code(exc)
                if status == 412 or code == "PreconditionFailed":
                    return False
                if status == 409 or code == "ConditionalRequestConflict":
                    _backoff(attempt)
                    continue
                raise self._fail(exc, "PutObject", key) from None
        raise StoreError(
            f"S3 PutObject s3://{self.bucket}/{key}: concurrent conditional writes kept conflicting "
            f"({self.max_attempts} attempts); try again"
        )

    def _upload_parts_once(self, key: str, src: IO[bytes], digest: str, metadata: dict[str, str]) -> bool:
        """Multipart upload, completed with If-None-Match: * ; aborted on any failure."""
        from botocore.exceptions import ClientError

        upload_id = self._call("create_multipart_upload", key, Metadata=metadata)["UploadId"]
        try:
            parts: list[dict[str, Any]] = []
            hasher = hashlib.sha256()
            while True:
                chunk = _read_full(src, self.part_size)
                if not chunk:
                    break
                hasher.update(chunk)
                number = len(parts) + 1
                try:
                    resp = self._call("upload_part", key, UploadId=upload_id, PartNumber=number, Body=chunk)
                except ClientError as exc:
                    raise self._fail(exc, f"UploadPart #{number}", key) from None
                parts.append({"ETag": resp["ETag"], "PartNumber": number})
            if hasher.hexdigest() != digest:
                raise StoreError(
                    f"the source changed while it was being uploaded (hashed {digest}, uploaded "
                    f"{hasher.hexdigest()}); nothing was stored. Make sure the file is not being written, then retry"
                )
            for attempt in range(self.max_attempts):
                try:
                    self._call(
                        "complete_multipart_upload",
                        key,
                        UploadId=upload_id,
                        MultipartUpload={"Parts": parts},
                        IfNoneMatch="*",
                    )
                    return True
                except ClientError as exc:
                    code, status = _error_code(exc)
                    if status == 412 or code == "PreconditionFailed":
                        self._abort(key, upload_id)
                        return False
                    if status == 409 or code == "ConditionalRequestConflict":
                        _backoff(attempt)
                        continue
                    raise self._fail(exc, "CompleteMultipartUpload", key) from None
            raise StoreError(f"S3 CompleteMultipartUpload s3://{self.bucket}/{key}: conflicts persisted; try again")
        except BaseException:
            self._abort(key, upload_id)
            raise

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except Exception:  # noqa: BLE001 - already failing; the original error matters more
            pass

    # ------------------------------------------------------------ blobs
    def put_blob(self, source: BlobSource) -> str:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            digest = sha256_hex(data)
            if not self._blob_present(digest, len(data)):
                if not self._put_once(self._key(blob_key(digest)), data, {"sha256": digest}):
                    self._blob_present(digest, len(data))
            return digest
        with open_source(source) as src:
            if not _seekable(src):
                with tempfile.TemporaryFile(prefix="alignment-ci-spool-") as spool:
                    copy_hashing(src, spool)
                    spool.seek(0)
                    return self._put_seekable(spool)
            return self._put_seekable(src)

    def _put_seekable(self, src: IO[bytes]) -> str:
        start = src.tell()
        hasher, size = hashlib.sha256(), 0
        for chunk in iter(lambda: src.read(CHUNK_SIZE), b""):
            hasher.update(chunk)
            size += len(chunk)
        digest = hasher.hexdigest()
        if self._blob_present(digest, size):
            return digest
        src.seek(start)
        key = self._key(blob_key(digest))
        metadata = {"sha256": digest}
        if size <= self.multipart_threshold:
            data = _read_full(src, size + 1)
            if sha256_hex(data) != digest:
                raise StoreError(
                    "the source changed while it was being stored; nothing was stored. "
                    "Make sure the file is not being written, then retry"
                )
            created = self._put_once(key, data, metadata)
        else:
            created = self._upload_parts_once(key, src, digest, metadata)
        if not created:
            self._blob_present(digest, size)  # raises IntegrityError if the existing object differs
        return digest

    def _blob_present(self, digest: str, size: int) -> bool:
        """True when the blob's key exists and agrees with ``size``; IntegrityError if it disagrees."""
        head = self._head(self._key(blob_key(digest)))
        if head is None:
            return False
        recorded = head.get("Metadata", {}).get("sha256")
        if head.get("ContentLength") != size or (recorded is not None and recorded != digest):
            raise IntegrityError(
                f"blob {digest} at {self.blob_uri(digest)} is corrupt ({head.get('ContentLength')} bytes, "
                f"recorded sha256 {recorded}); the content has {size} bytes. Delete the object and store it again"
            )
        return True

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return self._call("head_object", key)
        except ClientError as exc:
            code, status = _error_code(exc)
            if status == 404 or code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._fail(exc, "HeadObject", key) from None

    def has_blob(self, digest: str) -> bool:
        return self._head(self._key(blob_key(check_digest(digest)))) is not None

    def blob_uri(self, digest: str) -> str:
        return f"s3://{self.bucket}/{self._key(blob_key(check_digest(digest)))}"

    def _open_blob(self, digest: str) -> IO[bytes]:
        from botocore.exceptions import ClientError

        key = self._key(blob_key(check_digest(digest)))
        try:
            return self._call("get_object", key)["Body"]
        except ClientError as exc:
            code, status = _error_code(exc)
            if status == 404 or code == "NoSuchKey":
                raise StoreError(f"blob {digest} is not in the artifact store at {self.location}") from None
            raise self._fail(exc, "GetObject", key) from None

    # ---------------------------------------------------------- objects
    def _write_once(self, key: str, data: bytes) -> bool:
        return self._put_once(self._key(key), data)

    def _read_object(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        full = self._key(key)
        try:
            body = self._call("get_object", full)["Body"]
        except ClientError as exc:
            code, status = _error_code(exc)
            if status == 404 or code == "NoSuchKey":
                return None
            raise self._fail(exc, "GetObject", full) from None
        with body:
            return body.read()

    def _list_names(self, prefix: str) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        full = self._key(prefix)
        names: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full, Delimiter="/"
            ):
                names.extend(obj["Key"][len(full) :] for obj in page.get("Contents", []))
        except ClientError as exc:
            raise self._fail(exc, "ListObjectsV2", full) from None
        except BotoCoreError as exc:
            raise StoreError(f"S3 ListObjectsV2 s3://{self.bucket}/{full} failed: {exc}") from None
        return sorted(names)


def make_client(endpoint_url: str | None, region: str | None, max_attempts: int = 5) -> Any:
    """A boto3 S3 client with botocore's ``standard`` retry mode (backoff with jitter)."""
    import boto3
    from botocore.config import Config as BotoConfig

    config = BotoConfig(
        retries={"mode": "standard", "total_max_attempts": max_attempts},  # includes the first try
        connect_timeout=10,
        read_timeout=120,
    )
    # A Session per store: boto3's default session is shared and not thread-safe to create clients from.
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def _error_code(exc: Exception) -> tuple[str, int]:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def _backoff(attempt: int) -> None:
    time.sleep(min(2.0, 0.05 * (2**attempt)) * random.uniform(0.5, 1.0))


def _seekable(f: IO[bytes]) -> bool:
    try:
        return bool(f.seekable()) and isinstance(f.tell(), int)
    except (AttributeError, OSError, ValueError):
        return False


def _read_full(src: IO[bytes], n: int) -> bytes:
    """Read up to ``n`` bytes, looping over short reads; fewer only at end of stream."""
    buf = bytearray()
    while len(buf) < n:
        chunk = src.read(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)
