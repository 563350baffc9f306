"""The artifact-store interface: content-addressed blobs and write-once JSON records.

Two kinds of thing live in a store:

* **Blobs** – opaque bytes named by their SHA-256 (hex). ``put_blob`` is idempotent;
  every read recomputes the hash and raises :class:`~alignment_ci.errors.IntegrityError`
  when the stored bytes no longer match their name.
* **Records** – small JSON objects under ``(kind, key)``. A key is written once: writing
  the same content again is a no-op, writing different content is a
  :class:`WriteConflict`. Records are serialised canonically (sorted keys, compact
  separators, UTF-8) so "the same content" means the same bytes.

Layout, shared by every backend (relative to the store's root or bucket prefix)::

    blobs/<first two hex digits>/<sha256>
    records/<kind>/<key>.json

A backend supplies the object-level primitives (:meth:`ArtifactStore._write_once`,
:meth:`_read_object`, :meth:`_list_names`, and the blob streams); hashing, verification,
canonical JSON and name validation live here, once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO, Union

from ..errors import InputError, IntegrityError, StoreError
from ..ids import check_id, is_id

CHUNK_SIZE = 1 << 20
"""Bytes read per step when streaming (1 MiB)."""

BlobSource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", BinaryIO, IO[bytes]]
"""What ``put_blob`` accepts: bytes, a path to a file, or a binary file object."""

_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
NAME_MAX_LEN = 200


class WriteConflict(StoreError):
    """A write-once key already holds different content."""


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, read in chunks (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_SIZE), b""):
            h.update(chunk)
    return h.hexdigest()


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is a SHA-256 hex string, else raise :class:`InputError`."""
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise InputError(f"{digest!r} is not a sha256 digest: expected 64 lowercase hex digits")
    return digest


def check_name(name: str, what: str) -> str:
    """Validate a record kind or key: one path segment of ``[A-Za-z0-9._-]``, no ``..``.

    The rule is strict on purpose: names become file paths and S3 keys, so ``/``,
    ``\\``, ``..``, a leading dot or dash, and control characters are refused.
    """
    return check_id(name, f"record {what}", max_len=NAME_MAX_LEN)


def canonical_json(obj: Any) -> bytes:
    """The canonical bytes of a JSON value: sorted keys, compact, UTF-8, no NaN."""
    try:
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"record is not plain JSON (dict/list/str/int/float/bool/None, finite numbers): {exc}") from None
    return text.encode("utf-8")


def blob_key(digest: str) -> str:
    """Relative key of a blob: ``blobs/<aa>/<digest>``."""
    return f"blobs/{digest[:2]}/{digest}"


def record_key(kind: str, key: str) -> str:
    """Relative key of a record: ``records/<kind>/<key>.json``."""
    return f"records/{check_name(kind, 'kind')}/{check_name(key, 'key')}.json"


@contextmanager
def open_source(source: BlobSource) -> Iterator[IO[bytes]]:
    """A binary file object for any :data:`BlobSource`; closes only what it opened."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        import io

        yield io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        try:
            f = open(source, "rb")
        except OSError as exc:
            raise InputError(f"{source}: cannot read ({exc.strerror})") from None
        with f:
            yield f
    elif hasattr(source, "read"):
        yield source  # type: ignore[misc]
    else:
        raise InputError(f"cannot store a {type(source).__name__}: give bytes, a path or a binary file object")


def copy_hashing(src: IO[bytes], dst: IO[bytes]) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` in chunks; return (sha256 hex, bytes copied)."""
    h = hashlib.sha256()
    size = 0
    while True:
        chunk = src.read(CHUNK_SIZE)
        if not chunk:
            break
        h.update(chunk)
        dst.write(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def integrity_error(digest: str, actual: str, where: str) -> IntegrityError:
    return IntegrityError(
        f"blob {digest} at {where} is corrupt: its content hashes to {actual}. "
        "Do not use it; restore the object from a backup or re-ingest the source file "
        "(delete the corrupt object first: store keys are write-once)"
    )


class ArtifactStore(ABC):
    """Content-addressed blobs and write-once JSON records behind one interface.

    Backends implement the blob stream methods and three object primitives; the
    public methods below are shared and do the hashing and verification.
    """

    backend: str = ""
    """Short backend name, as in the config (``file``, ``s3``)."""

    # ----------------------------------------------------------------- blobs
    @abstractmethod
    def put_blob(self, source: BlobSource) -> str:
        """Store bytes, a file (by path) or a binary stream; return its sha256 hex.

        Idempotent: storing content that is already there writes nothing new. Large
        inputs are streamed and hashed while copying, never held whole in memory.
        Atomic: a failure part-way (the source raising, the process dying) leaves
        no object under the blob's key.
        """

    @abstractmethod
    def has_blob(self, digest: str) -> bool:
        """True when a blob with this digest is stored (its content is not re-hashed)."""

    @abstractmethod
    def blob_uri(self, digest: str) -> str:
        """Where the blob lives: ``file:///...`` or ``s3://bucket/prefix/blobs/aa/<digest>``."""

    @abstractmethod
    def _open_blob(self, digest: str) -> IO[bytes]:
        """A raw (unverified) read stream of a blob; :class:`StoreError` when absent."""

    fallback_roots: tuple[Path, ...] = ()
    """Read-only directories laid out ``<aa>/<sha256>`` (the repository's committed batch
    blobs, ``datasets_manifest/blobs``) consulted when the store itself lacks a blob."""

    def blob_ref(self, digest: str) -> str:
        """The blob's place relative to any store root: ``blobs/<aa>/<sha256>``.

        Manifests record this (not :meth:`blob_uri`), so a clone on another machine, or the
        same data moved to another backend, still finds the blob: lookups go by sha256.
        """
        return blob_key(check_digest(digest))

    def _open_verified_source(self, digest: str) -> IO[bytes]:
        """The store's blob, else a copy under :attr:`fallback_roots`; StoreError when neither has it."""
        try:
            return self._open_blob(digest)
        except StoreError:
            for root in self.fallback_roots:
                candidate = Path(root) / digest[:2] / digest
                if candidate.is_file():
                    return open(candidate, "rb")
            if self.fallback_roots:
                places = ", ".join(str(r) for r in self.fallback_roots)
                raise StoreError(
                    f"blob {digest} is not in the artifact store at {self.location} nor in {places}: "
                    "commit the batch's blob with its manifest (getting-started store) or point the store "
                    "at the bucket that holds it (ALIGNMENT_CI_S3_BUCKET); see docs/adopting.md"
                ) from None
            raise

    def get_blob(self, digest: str) -> bytes:
        """The blob's bytes, verified against ``digest`` (:class:`IntegrityError` if not)."""
        check_digest(digest)
        with closing(self._open_verified_source(digest)) as f:
            data = f.read()
        actual = sha256_hex(data)
        if actual != digest:
            raise integrity_error(digest, actual, self.blob_uri(digest))
        return data

    def get_blob_to_path(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Stream a blob to ``dest``, verifying while copying; atomic (temp file + rename).

        On a hash mismatch nothing is left at ``dest`` (an existing file there is kept
        as it was) and :class:`IntegrityError` is raised.
        """
        check_digest(digest)
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, closing(self._open_verified_source(digest)) as f:
                actual, _ = copy_hashing(f, out)
                out.flush()
                os.fsync(out.fileno())
            if actual != digest:
                raise integrity_error(digest, actual, self.blob_uri(digest))
            os.replace(tmp, dest)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        return dest

    # --------------------------------------------------------------- records
    @abstractmethod
    def _write_once(self, key: str, data: bytes) -> bool:
        """Create object ``key`` with ``data`` atomically unless it exists.

        Return True when this call created it, False when the key already existed
        (then nothing was written). Readers never see a partial object.
        """

    @abstractmethod
    def _read_object(self, key: str) -> bytes | None:
        """The bytes of object ``key``, or None when it does not exist."""

    @abstractmethod
    def _list_names(self, prefix: str) -> list[str]:
        """Names of the objects directly under ``prefix`` (which ends with ``/``)."""

    def put_record(self, kind: str, key: str, obj: dict[str, Any]) -> bool:
        """Write a JSON record once. Return True when written, False when identical content was there.

        Different content under an existing ``(kind, key)`` raises :class:`WriteConflict`.
        """
        if not isinstance(obj, dict):
            raise InputError(f"a record must be a JSON object (dict), got {type(obj).__name__}")
        path = record_key(kind, key)
        data = canonical_json(obj)
        if self._write_once(path, data):
            return True
        existing = self._read_object(path)
        if existing == data:
            return False
        raise WriteConflict(
            f"record {kind}/{key} already exists with different content; records are write-once. "
            "Write the new version under a new key"
        )

    def get_record(self, kind: str, key: str) -> dict[str, Any] | None:
        """The record, or None when absent. :class:`IntegrityError` if it is not a JSON object."""
        path = record_key(kind, key)
        data = self._read_object(path)
        if data is None:
            return None
        try:
            obj = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IntegrityError(f"record {kind}/{key} is not valid JSON ({exc}); it was altered outside the store") from None
        if not isinstance(obj, dict):
            raise IntegrityError(f"record {kind}/{key} is not a JSON object; it was altered outside the store")
        return obj

    def list_records(self, kind: str) -> list[str]:
        """Keys of the records of ``kind``, sorted."""
        names = self._list_names(f"records/{check_name(kind, 'kind')}/")
        keys = []
        for name in names:
            if name.endswith(".json"):
                key = name[: -len(".json")]
                if is_id(key, NAME_MAX_LEN):
                    keys.append(key)
        return sorted(keys)

    def iter_records(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(key, record)`` for each record of ``kind``, in key order."""
        for key in self.list_records(kind):
            obj = self.get_record(kind, key)
            if obj is not None:
                yield key, obj

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.location}>"

    @property
    @abstractmethod
    def location(self) -> str:
        """A URI naming the store's root (for messages and reports)."""


def _unlink_quietly(path: str | os.PathLike[str]) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
