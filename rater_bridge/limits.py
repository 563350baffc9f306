"""Request limits, enforced before the expensive work (ASGI middleware).

* Body size: a JSON request (task completion, calibration answers, rater preferences)
  larger than ``bridge.max_request_bytes`` is answered 413, from its ``Content-Length``
  before a byte is read, or as soon as a chunked body passes the limit. Uploads
  (``POST /v1/batches``: ``bridge.max_upload_bytes``, :mod:`.upload`) and webhooks
  (``bridge.max_webhook_bytes``) have their own limits.
* Time: a request still running after ``bridge.request_timeout_s`` is answered 422
  naming the limit (the same request would take as long again). A push checks the
  limit itself once its batch is validated, before anything is stored (:func:`.batches.push_batch`),
  so a late push never publishes behind the vendor's back.

Every refusal names the limit and the alignment.yaml setting that holds it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import HTTPException

from .state import Bridge

Scope = dict[str, Any]


def limit_body(status: int, detail: str, limit: float, setting: str, field: str | None = None) -> dict[str, Any]:
    """The JSON body of a refusal that names the limit (:class:`.schemas.FieldError`)."""
    return {"detail": detail, "field": field, "limit": limit, "setting": setting}


class LimitExceeded(HTTPException):
    """A request past one of the bridge's limits; answered with :func:`limit_body` (an
    HTTPException, so that FastAPI lets it through its body parsing unchanged)."""

    def __init__(self, status: int, detail: str, limit: float, setting: str, field: str | None = None) -> None:
        super().__init__(status, detail)
        self.body = limit_body(status, detail, limit, setting, field)


class LimitsMiddleware:
    def __init__(self, app: Any, bridge: Bridge) -> None:
        self.app = app
        self.bridge = bridge

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.bridge.settings
        path, method = scope.get("path", ""), scope.get("method", "")
        is_push = method == "POST" and path.rstrip("/") == "/v1/batches"
        own_limit = is_push or path.startswith("/v1/webhooks/")
        if not own_limit:
            limit = settings.max_request_bytes
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                await _send_json(send, 413, limit_body(413, f"request body of {declared} bytes is larger than the "
                                                      f"bridge's limit of {limit} bytes (bridge.max_request_bytes)",
                                                      limit, "bridge.max_request_bytes"))
                return
            receive = _counting(receive, limit)
        if is_push:  # bounded by push_batch itself (see the module docstring)
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        timeout = settings.request_timeout_s
        try:
            await asyncio.wait_for(self.app(scope, receive, tracking_send), timeout=timeout)
        except asyncio.TimeoutError:
            if not started:
                await _send_json(send, 422, limit_body(
                    422, f"the request took longer than the bridge's limit of {timeout:g} s (bridge.request_timeout_s)",
                    timeout, "bridge.request_timeout_s"))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


def _counting(receive: Any, limit: int) -> Any:
    seen = 0

    async def counted() -> dict[str, Any]:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise LimitExceeded(413, f"request body larger than the bridge's limit of {limit} bytes "
                                         "(bridge.max_request_bytes)", limit, "bridge.max_request_bytes")
        return message

    return counted


async def _send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
