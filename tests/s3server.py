"""A real S3 HTTP endpoint for tests: moto's server mode on 127.0.0.1.

Import the fixtures into a test module (or list this module in ``pytest_plugins``)::

    from tests.s3server import artifact_store, moto_endpoint, s3_target  # noqa: F401

``artifact_store`` runs a test once on the ``file`` backend and once on ``s3``; the
``raw_*`` helpers read, overwrite and delete stored objects behind the store's back
(for tamper tests).

``moto_endpoint`` (session scope) starts one server per test session; ``s3_target``
(function scope) creates a fresh bucket for each test, so tests never see each
other's objects. Outside pytest, ``with moto_server() as url:`` starts and stops one.

Two things keep the endpoint honest:

* Dummy credentials and a region are put in the environment, and the shared AWS
  config files are pointed at nothing, so boto3 never reaches the network or a
  developer's real account.
* Requests are served one at a time. Real S3 evaluates ``If-None-Match: *`` and the
  write it guards as one atomic step; moto checks and then writes, and its threaded
  server can interleave two requests between those steps. Serialising requests
  gives the conditional-write semantics that S3 documents, which the store's
  write-once and lineage tests depend on. Connections are still handled
  concurrently, so concurrent clients really do race at the HTTP level.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


class _SerializedApp:
    """WSGI middleware: one request at a time through the wrapped app."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self._lock:
            # Materialise the body inside the lock so the whole request is one step.
            return list(self._app(environ, start_response))


def _make_server_class() -> type:
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class SerializedMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = _SerializedApp(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return SerializedMotoServer


@contextmanager
def dummy_aws_env() -> Iterator[None]:
    """Set dummy AWS credentials for the duration; restore the environment after."""
    saved = {k: os.environ.get(k) for k in DUMMY_ENV}
    os.environ.update(DUMMY_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto's S3 server on 127.0.0.1 (a free port) and yield its endpoint URL."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log per request
    server = _make_server_class()(ip_address="127.0.0.1", port=0, verbose=False)
    with dummy_aws_env():
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def s3_client(endpoint_url: str, region: str = "us-east-1") -> Any:
    """A plain boto3 client for the endpoint (for arranging and inspecting tests)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=DUMMY_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_ENV["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=DUMMY_ENV["AWS_SESSION_TOKEN"],
    )


_CLIENTS: dict[str, Any] = {}


def _shared_client(endpoint_url: str) -> Any:
    """One client per endpoint for the session: creating a boto3 client costs ~0.3 s."""
    if endpoint_url not in _CLIENTS:
        _CLIENTS[endpoint_url] = s3_client(endpoint_url)
    return _CLIENTS[endpoint_url]


@dataclass
class S3Target:
    """One fresh bucket on the test endpoint."""

    endpoint_url: str
    bucket: str
    prefix: str
    region: str
    client: Any

    def keys(self, prefix: str | None = None) -> list[str]:
        """Every object key under ``prefix`` (default: the target's prefix), sorted."""
        p = self.prefix if prefix is None else prefix
        out: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=p):
            out.extend(obj["Key"] for obj in page.get("Contents", []))
        return sorted(out)

    def env(self) -> dict[str, str]:
        """The ALIGNMENT_CI_S3_* variables that point the store at this bucket."""
        return {
            "ALIGNMENT_CI_S3_BUCKET": self.bucket,
            "ALIGNMENT_CI_S3_ENDPOINT": self.endpoint_url,
            "ALIGNMENT_CI_S3_PREFIX": self.prefix,
        }


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Endpoint URL of one moto S3 server shared by the session."""
    with moto_server() as url:
        yield url


@pytest.fixture
def s3_target(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Target:
    """A new, empty bucket (and the dummy credentials in the environment)."""
    for k, v in DUMMY_ENV.items():
        monkeypatch.setenv(k, v)
    bucket = f"test-{uuid.uuid4().hex[:20]}"
    client = _shared_client(moto_endpoint)
    client.create_bucket(Bucket=bucket)
    return S3Target(endpoint_url=moto_endpoint, bucket=bucket, prefix="ci", region="us-east-1", client=client)


# --------------------------------------------------------------------------------------
# Artifact stores on both backends, and raw access that bypasses the store's checks
# (for tests that tamper with stored objects the way an attacker or a bad tool would).

MiB = 1024 * 1024


def make_s3_store(target: S3Target, **kwargs: Any) -> Any:
    """An S3Store on ``target`` with small multipart settings (6 MiB threshold, 5 MiB parts).

    It shares the target's client (fast); ``open_store`` tests cover building a client.
    """
    from alignment_ci.store.s3 import S3Store

    kwargs.setdefault("client", target.client)
    kwargs.setdefault("multipart_threshold", 6 * MiB)
    kwargs.setdefault("part_size", 5 * MiB)
    return S3Store(target.bucket, target.prefix, endpoint_url=target.endpoint_url, region=target.region, **kwargs)


@pytest.fixture(params=["file", "s3"])
def artifact_store(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """The same behavioural test on the ``file`` and the ``s3`` backend (moto)."""
    if request.param == "file":
        from alignment_ci.store.local import FileStore

        return FileStore(tmp_path / "store")
    return make_s3_store(request.getfixturevalue("s3_target"))


def raw_keys(store: Any) -> list[str]:
    """Every object visible in the store, as relative keys (``blobs/..``, ``records/..``).

    For the file backend, files under ``tmp/`` are included so leftovers show up.
    """
    if store.backend == "file":
        root = store.root
        if not root.exists():
            return []
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    prefix = f"{store.prefix}/" if store.prefix else ""
    out: list[str] = []
    for page in store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=prefix):
        out.extend(obj["Key"][len(prefix) :] for obj in page.get("Contents", []))
    return sorted(out)


def raw_read(store: Any, key: str) -> bytes:
    if store.backend == "file":
        return (store.root / key).read_bytes()
    full = f"{store.prefix}/{key}" if store.prefix else key
    return store.client.get_object(Bucket=store.bucket, Key=full)["Body"].read()


def raw_write(store: Any, key: str, data: bytes) -> None:
    """Overwrite (or create) an object behind the store's back, ignoring write-once."""
    if store.backend == "file":
        path = store.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.chmod(0o644)
        path.write_bytes(data)
        return
    full = f"{store.prefix}/{key}" if store.prefix else key
    store.client.put_object(Bucket=store.bucket, Key=full, Body=data)


def raw_delete(store: Any, key: str) -> None:
    if store.backend == "file":
        (store.root / key).unlink()
        return
    full = f"{store.prefix}/{key}" if store.prefix else key
    store.client.delete_object(Bucket=store.bucket, Key=full)
