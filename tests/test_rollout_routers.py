"""Traffic routers: atomic file writes, a real HTTP webhook, conditional writes to a real S3 endpoint."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alignment_ci.errors import InputError
from alignment_ci.rollout.plan import RouterSettings
from alignment_ci.rollout.routers import make_router
from alignment_ci.rollout.routers.file import FileRouter
from alignment_ci.rollout.routers.s3 import S3Router
from alignment_ci.rollout.routers.webhook import WebhookError, WebhookRouter
from tests.s3server import moto_endpoint, s3_target  # noqa: F401


def table(percent: float, seq: int = 1) -> dict:
    return {
        "rollout_id": "r1",
        "baseline": "v1",
        "candidate": "v2",
        "weights": {"v1": 100.0 - percent, "v2": percent},
        "seq": seq,
        "stage": 0,
        "status": "running",
    }


# ------------------------------------------------------------------ file
def test_file_router_writes_once_and_skips_an_identical_table(tmp_path):
    router = FileRouter(tmp_path / "serving" / "routing.json")
    assert router.current() is None
    assert router.apply(table(2)) is True
    assert router.apply(table(2)) is False
    assert json.loads((tmp_path / "serving" / "routing.json").read_text())["weights"] == {"v1": 98.0, "v2": 2.0}
    assert router.apply(table(10, seq=2)) is True
    assert router.current()["weights"]["v2"] == 10.0
    assert sorted(p.name for p in (tmp_path / "serving").iterdir()) == ["routing.json"]


def test_file_router_readers_never_see_a_partial_table(tmp_path):
    path = tmp_path / "routing.json"
    router = FileRouter(path)
    router.apply(table(0.0, seq=0))
    stop = threading.Event()
    seen: list[float] = []
    errors: list[Exception] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(json.loads(path.read_text())["weights"]["v2"])
            except Exception as exc:  # a torn write would show up here
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(1, 300):
        router.apply(table(float(i % 100), seq=i))
    stop.set()
    thread.join()
    assert errors == []
    assert len(seen) > 10
    assert all(0 <= v < 100 for v in seen)
    assert [p.name for p in tmp_path.iterdir()] == ["routing.json"]


def test_router_refuses_weights_that_do_not_sum_to_100(tmp_path):
    bad = table(2)
    bad["weights"] = {"v1": 90.0, "v2": 2.0}
    with pytest.raises(InputError, match="sum to 100"):
        FileRouter(tmp_path / "r.json").apply(bad)
    assert not (tmp_path / "r.json").exists()


# --------------------------------------------------------------- webhook
class _Receiver:
    """A real HTTP server on 127.0.0.1 answering POSTs with a scripted list of status codes."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {"body": json.loads(body), "key": self.headers.get("Idempotency-Key"), "auth": self.headers.get("Authorization")}
                )
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/weights"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "_Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_webhook_applies_on_2xx_and_sends_the_table_once():
    with _Receiver([204]) as rx:
        router = WebhookRouter(rx.url, headers={"Authorization": "Bearer t"}, backoff_s=0.01)
        assert router.apply(table(10, seq=3)) is True
        assert router.apply(table(10, seq=3)) is False
    assert len(rx.requests) == 1
    assert rx.requests[0]["body"]["weights"] == {"v1": 90.0, "v2": 10.0}
    assert rx.requests[0]["key"] == "r1-3"
    assert rx.requests[0]["auth"] == "Bearer t"


def test_webhook_retries_a_500_then_succeeds():
    with _Receiver([500, 503, 200]) as rx:
        assert WebhookRouter(rx.url, backoff_s=0.01, max_attempts=4).apply(table(50)) is True
    assert len(rx.requests) == 3
    assert {r["key"] for r in rx.requests} == {"r1-1"}


def test_webhook_gives_up_after_max_attempts_of_500():
    with _Receiver([500]) as rx:
        with pytest.raises(WebhookError, match="not applied after 3 attempts .*HTTP 500"):
            WebhookRouter(rx.url, backoff_s=0.01, max_attempts=3).apply(table(50))
    assert len(rx.requests) == 3


def test_webhook_does_not_retry_a_client_error():
    with _Receiver([403]) as rx:
        with pytest.raises(WebhookError, match="refused the routing table .*HTTP 403"):
            WebhookRouter(rx.url, backoff_s=0.01).apply(table(50))
    assert len(rx.requests) == 1


def test_webhook_unreachable_is_an_error_with_the_url():
    router = WebhookRouter("http://127.0.0.1:9/weights", backoff_s=0.01, max_attempts=2, timeout_s=1)
    with pytest.raises(WebhookError, match="127.0.0.1:9.*2 attempts"):
        router.apply(table(2))


def test_make_router_builds_each_kind(tmp_path):
    assert isinstance(make_router(RouterSettings(path=str(tmp_path / "t.json"))), FileRouter)
    hook = make_router(RouterSettings(kind="webhook", url="http://127.0.0.1:1/x", max_attempts=2))
    assert isinstance(hook, WebhookRouter) and hook.max_attempts == 2
    with pytest.raises(ValueError, match="needs `url`"):
        RouterSettings(kind="webhook")


# -------------------------------------------------------------------- s3
def test_s3_router_writes_conditionally_and_skips_an_identical_table(s3_target):  # noqa: F811
    router = S3Router(s3_target.bucket, "serving/routing.json", endpoint_url=s3_target.endpoint_url, region="us-east-1")
    assert router.current() is None
    assert router.apply(table(2)) is True
    etag = s3_target.client.head_object(Bucket=s3_target.bucket, Key="serving/routing.json")["ETag"]
    assert router.apply(table(2)) is False
    assert s3_target.client.head_object(Bucket=s3_target.bucket, Key="serving/routing.json")["ETag"] == etag
    assert router.apply(table(10, seq=2)) is True
    assert router.current()["weights"] == {"v1": 90.0, "v2": 10.0}


def test_s3_router_retries_when_another_writer_changes_the_object_first(s3_target):  # noqa: F811
    key = "routing.json"
    router = S3Router(s3_target.bucket, key, endpoint_url=s3_target.endpoint_url, region="us-east-1")
    router.apply(table(2))
    attempts: list[str] = []

    def interfere(params, **kwargs):
        attempts.append(params["headers"].get("If-Match", ""))
        if len(attempts) == 1:  # another process rewrites the table between our read and our write
            s3_target.client.put_object(Bucket=s3_target.bucket, Key=key, Body=json.dumps(table(5, seq=9)).encode())

    router.client.meta.events.register("before-call.s3.PutObject", interfere)
    assert router.apply(table(10, seq=2)) is True
    assert len(attempts) == 2 and attempts[0] != attempts[1]
    assert router.current() == table(10, seq=2)
