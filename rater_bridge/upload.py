"""Receive an upload: the request body itself, or the multipart field ``file``.

The bytes are streamed to a file while being hashed and counted; nothing is held in
memory beyond one chunk, and the upload stops at ``max_bytes`` (HTTP 413). Multipart
bodies are parsed incrementally with python-multipart's :class:`MultipartParser`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from python_multipart.multipart import MultipartParser, parse_options_header

from .limits import LimitExceeded

MULTIPART_OVERHEAD = 64 * 1024  # headers and boundaries allowed on top of the file itself


@dataclass
class Upload:
    path: Path
    sha256: str
    size: int
    filename: str | None


def too_large(limit: int) -> LimitExceeded:
    return LimitExceeded(413, f"upload larger than the bridge's limit of {limit} bytes (bridge.max_upload_bytes); "
                              "split the batch", limit, "bridge.max_upload_bytes")


class _Sink:
    """A file that hashes, counts and enforces the limit as it is written."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path, self.limit = path, limit
        self.fh = open(path, "wb")
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise too_large(self.limit)
        self.hash.update(data)
        self.fh.write(data)

    def close(self) -> None:
        self.fh.close()


async def receive_upload(request: Request, dest: Path, max_bytes: int) -> Upload:
    """Stream the upload in ``request`` to ``dest``; 413 past ``max_bytes``, 400 for a malformed multipart body."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + MULTIPART_OVERHEAD:
        raise too_large(max_bytes)
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    sink = _Sink(dest, max_bytes)
    try:
        if content_type == b"multipart/form-data":
            filename = await _receive_multipart(request, params.get(b"boundary"), sink, max_bytes)
        else:
            filename = None
            async for chunk in request.stream():
                if chunk:
                    sink.write(chunk)
    finally:
        sink.close()
    return Upload(dest, sink.hash.hexdigest(), sink.size, filename)


async def _receive_multipart(request: Request, boundary: bytes | None, sink: _Sink, max_bytes: int) -> str | None:
    if not boundary:
        raise HTTPException(400, "multipart body without a boundary in its Content-Type; send the file as the body or as field 'file'")
    state: dict[str, Any] = {"header_field": b"", "header_value": b"", "headers": {}, "in_file": False,
                             "found": False, "filename": None, "error": None}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header_field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["header_value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["header_field"].lower()] = state["header_value"]
        state["header_field"], state["header_value"] = b"", b""

    def on_headers_finished() -> None:
        _, disp = parse_options_header(state["headers"].get(b"content-disposition", b""))
        is_file = disp.get(b"name") == b"file"
        if is_file and state["found"]:
            state["error"] = "the multipart body has more than one field 'file'; send one batch per request"
        state["in_file"] = is_file and not state["found"]
        if state["in_file"]:
            state["found"] = True
            fn = disp.get(b"filename")
            state["filename"] = fn.decode("utf-8", "replace")[:200] if fn else None

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["in_file"]:
            sink.write(data[start:end])

    def on_part_begin() -> None:
        state["headers"] = {}

    def on_part_end() -> None:
        state["in_file"] = False

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
        },
        max_size=max_bytes + MULTIPART_OVERHEAD,
    )
    try:
        async for chunk in request.stream():
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except HTTPException:
        raise
    except Exception as exc:  # python-multipart raises its own parse errors
        raise HTTPException(400, f"malformed multipart body ({type(exc).__name__}); send the file as field 'file'") from None
    if state["error"]:
        raise HTTPException(400, state["error"])
    if not state["found"]:
        raise HTTPException(400, "multipart body without a field 'file'; send the batch as field 'file' or as the raw body")
    return state["filename"]
