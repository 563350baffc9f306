"""The artifact store on both backends: local directory and S3 (moto server on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from alignment_ci.config import parse_config
from alignment_ci.errors import InputError, IntegrityError, StoreError
from alignment_ci.store import WriteConflict, open_store
from alignment_ci.store.local import FileStore
from alignment_ci.store.s3 import S3Store
from tests.s3server import (  # noqa: F401  (fixtures)
    MiB,
    S3Target,
    artifact_store,
    make_s3_store,
    moto_endpoint,
    raw_keys,
    raw_read,
    raw_write,
    s3_target,
)

HELLO_SHA256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"  # sha256(b"hello")


def blob_keys(store: Any) -> list[str]:
    return [k for k in raw_keys(store) if k.startswith("blobs/")]


def litter(store: Any) -> list[str]:
    """Objects that are neither blobs nor records (temp files left behind)."""
    return [k for k in raw_keys(store) if not k.startswith(("blobs/", "records/"))]


class NonSeekable(io.RawIOBase):
    """A pipe-like stream (no seek), like stdin or an HTTP body."""

    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        self._buf = io.BytesIO(data)
        self._fail_after = fail_after

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._fail_after is not None and self._buf.tell() >= self._fail_after:
            raise OSError("connection reset while reading the source")
        n = self._buf.readinto(memoryview(b)[: 256 * 1024])
        return n


class FailsOnSecondPass(io.BytesIO):
    """A seekable source whose second read-through fails part-way (e.g. a flaky network disk)."""

    def __init__(self, data: bytes, fail_at: int) -> None:
        super().__init__(data)
        self.passes = 0
        self.fail_at = fail_at

    def seek(self, pos: int, whence: int = 0) -> int:
        if pos == 0 and whence == 0:
            self.passes += 1
        return super().seek(pos, whence)

    def read(self, n: int | None = -1) -> bytes:
        if self.passes >= 1 and self.tell() >= self.fail_at:
            raise OSError("I/O error on the second read")
        return super().read(n)


class ChangesOnSecondPass(io.BytesIO):
    """A seekable source whose content is different the second time it is read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self._flipped = False

    def seek(self, pos: int, whence: int = 0) -> int:
        if not self._flipped and pos == 0 and whence == 0:
            self._flipped = True
            buf = self.getbuffer()
            buf[len(buf) - 1] ^= 0xFF
            del buf
        return super().seek(pos, whence)


# ------------------------------------------------------------------------ blobs


def test_blob_round_trip_from_bytes_path_and_stream(artifact_store: Any, tmp_path: Path) -> None:
    store = artifact_store
    assert store.put_blob(b"hello") == HELLO_SHA256
    assert store.get_blob(HELLO_SHA256) == b"hello"
    assert store.has_blob(HELLO_SHA256)

    src = tmp_path / "batch.jsonl"
    src.write_bytes(b'{"a": 1}\n' * 1000)
    expected = hashlib.sha256(src.read_bytes()).hexdigest()
    assert store.put_blob(src) == expected
    assert store.put_blob(str(src)) == expected
    assert store.put_blob(NonSeekable(src.read_bytes())) == expected
    assert store.get_blob(expected) == src.read_bytes()
    assert len(blob_keys(store)) == 2
    assert litter(store) == []


def test_blob_uri_names_the_content_address(artifact_store: Any) -> None:
    store = artifact_store
    store.put_blob(b"hello")
    uri = store.blob_uri(HELLO_SHA256)
    if store.backend == "file":
        assert uri == (store.root / "blobs" / "2c" / HELLO_SHA256).resolve().as_uri()
    else:
        assert uri == f"s3://{store.bucket}/ci/blobs/2c/{HELLO_SHA256}"


def test_put_blob_is_idempotent(artifact_store: Any) -> None:
    store = artifact_store
    first = store.put_blob(b"same bytes")
    second = store.put_blob(io.BytesIO(b"same bytes"))
    assert first == second == hashlib.sha256(b"same bytes").hexdigest()
    assert blob_keys(store) == [f"blobs/{first[:2]}/{first}"]


def test_large_blob_streams_and_copies_to_path(artifact_store: Any, tmp_path: Path) -> None:
    store = artifact_store
    data = os.urandom(13 * MiB)  # above the test multipart threshold (6 MiB): 3 parts of 5 MiB
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    digest = store.put_blob(src)
    assert digest == hashlib.sha256(data).hexdigest()
    dest = store.get_blob_to_path(digest, tmp_path / "out" / "copy.bin")
    assert dest.read_bytes() == data
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["copy.bin"]
    if store.backend == "s3":
        head = store.client.head_object(Bucket=store.bucket, Key=f"ci/blobs/{digest[:2]}/{digest}")
        assert head["ETag"].strip('"').endswith("-3")  # a multipart object of 3 parts
        assert head["Metadata"]["sha256"] == digest
        assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []


def test_get_blob_detects_tampering(artifact_store: Any, tmp_path: Path) -> None:
    store = artifact_store
    digest = store.put_blob(b"original content")
    key = f"blobs/{digest[:2]}/{digest}"
    raw_write(store, key, b"tampered content")
    with pytest.raises(IntegrityError, match=f"blob {digest} .* is corrupt: its content hashes to "
                       + hashlib.sha256(b"tampered content").hexdigest()):
        store.get_blob(digest)

    dest = tmp_path / "dl" / "model.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"previous")
    with pytest.raises(IntegrityError):
        store.get_blob_to_path(digest, dest)
    assert dest.read_bytes() == b"previous"  # not replaced by the corrupt download
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.bin"]  # no .part left


def test_put_blob_refuses_an_existing_corrupt_object_of_another_size(artifact_store: Any) -> None:
    store = artifact_store
    digest = store.put_blob(b"twelve bytes")
    raw_write(store, f"blobs/{digest[:2]}/{digest}", b"short")
    with pytest.raises(IntegrityError, match="corrupt"):
        store.put_blob(b"twelve bytes")


def test_missing_blob_and_bad_digest(artifact_store: Any) -> None:
    store = artifact_store
    assert not store.has_blob("0" * 64)
    with pytest.raises(StoreError, match=f"blob {'0' * 64} is not in the artifact store"):
        store.get_blob("0" * 64)
    for bad in ["../../etc/passwd", "ABC", "0" * 63, "0" * 64 + "/x", "G" * 64]:
        with pytest.raises(InputError, match="is not a sha256 digest"):
            store.get_blob(bad)


# ---------------------------------------------------------------------- records


def test_records_are_write_once(artifact_store: Any) -> None:
    store = artifact_store
    assert store.put_record("runs", "run-1", {"loss": 0.5, "name": "ü"}) is True
    assert store.put_record("runs", "run-1", {"name": "ü", "loss": 0.5}) is False  # same content, other key order
    with pytest.raises(WriteConflict, match="record runs/run-1 already exists with different content"):
        store.put_record("runs", "run-1", {"loss": 0.4, "name": "ü"})
    assert store.get_record("runs", "run-1") == {"loss": 0.5, "name": "ü"}
    assert store.get_record("runs", "run-2") is None
    store.put_record("runs", "a-0", {})
    store.put_record("runs", "Z.9", {})
    assert store.list_records("runs") == ["Z.9", "a-0", "run-1"]
    assert store.list_records("nothing") == []
    assert raw_read(store, "records/runs/run-1.json") == '{"loss":0.5,"name":"ü"}'.encode()


def test_record_must_be_plain_json(artifact_store: Any) -> None:
    store = artifact_store
    with pytest.raises(InputError, match="not plain JSON"):
        store.put_record("runs", "x", {"loss": float("nan")})
    with pytest.raises(InputError, match="must be a JSON object"):
        store.put_record("runs", "x", [1, 2])  # type: ignore[arg-type]
    assert raw_keys(store) == []


def test_corrupted_record_is_an_integrity_error(artifact_store: Any) -> None:
    store = artifact_store
    store.put_record("runs", "r", {"a": 1})
    raw_write(store, "records/runs/r.json", b"{not json")
    with pytest.raises(IntegrityError, match="record runs/r is not valid JSON"):
        store.get_record("runs", "r")


@pytest.mark.parametrize("kind,key", [
    ("..", "x"), ("runs", ".."), ("../runs", "x"), ("runs", "../../etc/passwd"), ("runs", "a/b"),
    ("runs", "a\\b"), ("runs", ""), ("", "x"), ("runs", ".hidden"), ("runs", "-flag"), ("runs", "x" * 201),
    ("runs", "a..b"), ("runs", "new\nline"), ("runs", "sp ace"),
])
def test_record_names_cannot_escape_the_store(artifact_store: Any, kind: str, key: str) -> None:
    store = artifact_store
    with pytest.raises(InputError, match="invalid record"):
        store.put_record(kind, key, {"x": 1})
    with pytest.raises(InputError, match="invalid record"):
        store.get_record(kind, key)
    assert raw_keys(store) == []


# ---------------------------------------------------------------- concurrency


def _run_threads(n: int, fn: Any) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - collected and asserted on
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_concurrent_writes_of_the_same_blob(artifact_store: Any) -> None:
    store = artifact_store
    data = os.urandom(512 * 1024)
    results = _run_threads(6, lambda i: store.put_blob(data))
    digest = hashlib.sha256(data).hexdigest()
    assert results == [digest] * 6
    assert blob_keys(store) == [f"blobs/{digest[:2]}/{digest}"]
    assert litter(store) == []
    assert store.get_blob(digest) == data


def test_concurrent_writes_of_one_record_key_one_wins(artifact_store: Any) -> None:
    store = artifact_store
    results = _run_threads(6, lambda i: store.put_record("runs", "r1", {"writer": i}))
    winners = [i for i, r in enumerate(results) if r is True]
    losers = [r for r in results if isinstance(r, WriteConflict)]
    assert len(winners) == 1 and len(losers) == 5
    assert store.get_record("runs", "r1") == {"writer": winners[0]}
    assert [k for k in raw_keys(store)] == ["records/runs/r1.json"]


def test_concurrent_identical_records_all_succeed(artifact_store: Any) -> None:
    store = artifact_store
    results = _run_threads(6, lambda i: store.put_record("runs", "r1", {"same": True}))
    assert sorted(results, key=str) == [False] * 5 + [True]
    assert raw_keys(store) == ["records/runs/r1.json"]


def test_s3_server_itself_refuses_a_second_conditional_write(s3_target: S3Target) -> None:
    """If-None-Match is enforced by the (moto) server, not only by our code."""
    c = s3_target.client
    c.put_object(Bucket=s3_target.bucket, Key="k", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as info:
        c.put_object(Bucket=s3_target.bucket, Key="k", Body=b"second", IfNoneMatch="*")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert info.value.response["Error"]["Code"] == "PreconditionFailed"
    assert c.get_object(Bucket=s3_target.bucket, Key="k")["Body"].read() == b"first"


# ------------------------------------------------------------ interrupted writes


def test_source_failing_mid_copy_leaves_nothing(artifact_store: Any) -> None:
    store = artifact_store
    stream = NonSeekable(os.urandom(3 * MiB), fail_after=MiB)
    with pytest.raises(OSError, match="connection reset"):
        store.put_blob(stream)
    assert raw_keys(store) == []  # no blob, no temp file


def test_s3_multipart_upload_interrupted_leaves_nothing_visible(s3_target: S3Target) -> None:
    store = make_s3_store(s3_target)
    data = os.urandom(13 * MiB)
    source = FailsOnSecondPass(data, fail_at=7 * MiB)  # fails after the first 5 MiB part was uploaded
    with pytest.raises(OSError, match="second read"):
        store.put_blob(source)
    assert source.passes == 1
    digest = hashlib.sha256(data).hexdigest()
    assert not store.has_blob(digest)
    assert s3_target.keys("") == []
    assert s3_target.client.list_multipart_uploads(Bucket=s3_target.bucket).get("Uploads", []) == []


@pytest.mark.parametrize("size", [MiB, 13 * MiB], ids=["single-put", "multipart"])
def test_s3_source_changing_during_upload_stores_nothing(s3_target: S3Target, size: int) -> None:
    store = make_s3_store(s3_target)
    with pytest.raises(StoreError, match="the source changed while it was being"):
        store.put_blob(ChangesOnSecondPass(os.urandom(size)))
    assert s3_target.keys("") == []
    assert s3_target.client.list_multipart_uploads(Bucket=s3_target.bucket).get("Uploads", []) == []


def test_s3_missing_bucket_is_a_clear_error(s3_target: S3Target) -> None:
    store = S3Store("no-such-bucket-here", endpoint_url=s3_target.endpoint_url, region="us-east-1")
    with pytest.raises(StoreError, match="bucket 'no-such-bucket-here' does not exist"):
        store.put_record("runs", "r", {"a": 1})


# ------------------------------------------------------------------ open_store


def test_open_store_file_backend_resolves_against_the_config_root(tmp_path: Path) -> None:
    config = parse_config("stores:\n  artifacts:\n    path: data/store\n", root=tmp_path)
    store = open_store(config)
    assert isinstance(store, FileStore)
    assert store.root == tmp_path / "data" / "store"
    digest = store.put_blob(b"hello")
    assert (tmp_path / "data" / "store" / "blobs" / "2c" / digest).read_bytes() == b"hello"


def test_open_store_s3_takes_bucket_prefix_endpoint_from_env(
    s3_target: S3Target, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = parse_config(
        "stores:\n  artifacts:\n    backend: s3\n    bucket: from-config\n    prefix: cfg\n", root=tmp_path
    )
    for k, v in s3_target.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("ALIGNMENT_CI_S3_PREFIX", "team/a/")
    store = open_store(config)
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.endpoint_url) == (s3_target.bucket, "team/a", s3_target.endpoint_url)
    store.put_record("runs", "r", {"a": 1})
    assert s3_target.keys("") == ["team/a/records/runs/r.json"]
    assert json.loads(s3_target.client.get_object(Bucket=s3_target.bucket, Key="team/a/records/runs/r.json")["Body"].read()) == {"a": 1}
    retries = store.client.meta.config.retries
    assert retries["mode"] == "standard" and retries["total_max_attempts"] == 5


def test_open_store_s3_without_bucket_says_what_to_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ALIGNMENT_CI_S3_BUCKET", raising=False)
    config = parse_config("stores:\n  artifacts:\n    backend: s3\n", root=tmp_path)
    with pytest.raises(StoreError, match="ALIGNMENT_CI_S3_BUCKET"):
        open_store(config)
