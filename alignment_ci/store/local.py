"""The ``file`` backend: a content-addressed store in a local directory.

Atomic, write-once writes: content goes to a temporary file under ``<root>/tmp/``
(same file system), is flushed and fsync'd, and is then hard-linked to its final
name. ``link(2)`` fails when the target exists, so "create unless present" is one
atomic step and two writers racing on one key cannot both win, and a reader never
sees a half-written file. The temporary file is always removed, also when the
source raises part-way. Stored files are made read-only (0444) as a guard against
accidental edits; reads still verify the hash, which is what catches deliberate ones.

On a file system without hard links the backend falls back to check-then-rename,
which is atomic for readers but lets two concurrent writers of *different* content
race (content-addressed blobs are unaffected: both writers write the same bytes).
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import IO

from ..errors import IntegrityError, StoreError
from .base import (
    ArtifactStore,
    BlobSource,
    _unlink_quietly,
    blob_key,
    check_digest,
    copy_hashing,
    open_source,
    sha256_hex,
)

_NO_HARDLINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK}


class FileStore(ArtifactStore):
    """Blobs and records under one directory (default ``.alignment-ci/store``)."""

    backend = "file"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def location(self) -> str:
        return self.root.resolve().as_uri()

    # ------------------------------------------------------------ helpers
    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def _tempfile(self) -> tuple[int, str]:
        tmpdir = self.root / "tmp"
        try:
            tmpdir.mkdir(parents=True, exist_ok=True)
            return tempfile.mkstemp(dir=tmpdir, prefix="w-", suffix=".part")
        except OSError as exc:
            raise StoreError(f"cannot write to the artifact store at {self.root}: {exc.strerror}") from None

    def _publish(self, tmp: str, final: Path) -> bool:
        """Make the finished temp file visible as ``final`` unless it exists. True if created."""
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)
        try:
            os.link(tmp, final)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in _NO_HARDLINKS:
                raise StoreError(f"cannot write {final}: {exc.strerror}") from None
            if final.exists():
                return False
            os.replace(tmp, final)
        _fsync_dir(final.parent)
        return True

    def _write_stream(self, src: IO[bytes]) -> tuple[str, int, str]:
        """Copy ``src`` into a fresh temp file; return (sha256, size, temp path)."""
        fd, tmp = self._tempfile()
        try:
            with os.fdopen(fd, "wb") as out:
                digest, size = copy_hashing(src, out)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            _unlink_quietly(tmp)
            raise
        return digest, size, tmp

    # -------------------------------------------------------------- blobs
    def put_blob(self, source: BlobSource) -> str:
        if isinstance(source, (bytes, bytearray, memoryview)):
            digest = sha256_hex(bytes(source))
            if self._blob_present(digest, len(source)):
                return digest
        with open_source(source) as src:
            digest, size, tmp = self._write_stream(src)
        try:
            if not self._publish(tmp, self._path(blob_key(digest))):
                self._blob_present(digest, size)
        finally:
            _unlink_quietly(tmp)
        return digest

    def _blob_present(self, digest: str, size: int) -> bool:
        """True when the blob exists with ``size`` bytes; IntegrityError when its size differs."""
        path = self._path(blob_key(digest))
        try:
            existing = path.stat().st_size
        except FileNotFoundError:
            return False
        if existing != size:
            raise IntegrityError(
                f"blob {digest} at {path} is corrupt: it has {existing} bytes, the content "
                f"has {size}. Delete that file and store the content again"
            )
        return True

    def has_blob(self, digest: str) -> bool:
        return self._path(blob_key(check_digest(digest))).is_file()

    def blob_uri(self, digest: str) -> str:
        return self._path(blob_key(check_digest(digest))).resolve().as_uri()

    def _open_blob(self, digest: str) -> IO[bytes]:
        path = self._path(blob_key(check_digest(digest)))
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise StoreError(f"blob {digest} is not in the artifact store at {self.root}") from None

    # ------------------------------------------------------------ objects
    def _write_once(self, key: str, data: bytes) -> bool:
        final = self._path(key)
        if final.exists():
            return False
        fd, tmp = self._tempfile()
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            return self._publish(tmp, final)
        finally:
            _unlink_quietly(tmp)

    def _read_object(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def _list_names(self, prefix: str) -> list[str]:
        directory = self._path(prefix.rstrip("/"))
        try:
            return sorted(e.name for e in os.scandir(directory) if e.is_file())
        except FileNotFoundError:
            return []


def _fsync_dir(directory: Path) -> None:
    """Persist a new directory entry (best effort; not every platform allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
