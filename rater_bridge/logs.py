"""Structured access logs: one JSON object per request, without PII.

Logged: request id, method, the matched route *template* (``/v1/batches/{batch_id}``, never
the concrete path or the query string, which carry vendor-chosen text), status, duration,
bytes in and out, and the authenticated vendor's name. Not logged: client addresses,
headers, tokens, bodies.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

ACCESS_LOGGER = "rater_bridge.access"
REQUEST_ID_HEADER = b"x-request-id"


class AccessLogMiddleware:
    """A pure ASGI middleware (it does not buffer streamed request bodies)."""

    def __init__(self, app: Any, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.logger = logger or logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        seen: dict[str, int] = {"status": 500, "bytes_out": 0}

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                message["headers"] = list(message.get("headers", [])) + [(REQUEST_ID_HEADER, request_id.encode())]
            elif message["type"] == "http.response.body":
                seen["bytes_out"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            headers = dict(scope.get("headers") or [])
            length = headers.get(b"content-length", b"")
            self.logger.info(json.dumps({
                "event": "access",
                "request_id": request_id,
                "method": scope.get("method"),
                "route": getattr(route, "path", None) or "(unmatched)",
                "status": seen["status"],
                "duration_ms": round(1000 * (time.perf_counter() - started), 2),
                "bytes_in": int(length) if length.isdigit() else None,
                "bytes_out": seen["bytes_out"],
                "vendor": scope.get("state", {}).get("vendor"),
            }, sort_keys=True))
