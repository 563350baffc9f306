"""``POST /v1/batches``, ``GET /v1/batches``, ``GET /v1/batches/{batch_id}``."""

from __future__ import annotations

import shutil
import time
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from alignment_ci.ids import ID_PATTERN
from alignment_ci.tempdirs import make_tempdir

from ..batches import UPLOAD_TEMP_PREFIX, batch_status, list_batches, push_batch, server_timing
from ..deps import BridgeDep, VendorDep
from ..schemas import BatchAnswer, BatchList, BatchStatus, ErrorDetail, FieldError
from ..upload import receive_upload

router = APIRouter(prefix="/v1/batches", tags=["batches"])


class UploadFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"
    labelstudio = "labelstudio"
    argilla = "argilla"


_ERRORS = {401: {"model": ErrorDetail, "description": "Missing, unknown or revoked token."}}


@router.post(
    "",
    status_code=201,
    response_model=BatchAnswer,
    responses={
        200: {"model": BatchAnswer, "description": "The same content was pushed before: that batch and its pull request."},
        400: {"model": ErrorDetail, "description": "Malformed request (query parameters, multipart body)."},
        409: {"model": BatchAnswer, "description": "The batch id already holds different content from this vendor."},
        413: {"model": BatchAnswer | FieldError, "description": "The upload is larger than bridge.max_upload_bytes "
              "(FieldError), or its content is over a validation size limit (BatchAnswer: kind limit_exceeded, the setting named)."},
        422: {"model": BatchAnswer, "description": "Rejected: the errors (line, column, kind); nothing was stored."},
        **_ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "description": "The batch file as the body, or as multipart field `file`.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
                               "required": ["file"]}
                },
            },
        }
    },
)
async def push(
    request: Request,
    vendor: VendorDep,
    bridge: BridgeDep,
    format: Annotated[UploadFormat, Query(description="jsonl, csv, parquet, or a tool export: labelstudio, argilla.")] = UploadFormat.jsonl,
    batch_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="Batch id for tool exports (they carry none).")] = None,
    dimension: Annotated[str | None, Query(max_length=64, description="Dimension for tool exports (default: the taxonomy's).")] = None,
) -> JSONResponse:
    """Push a label batch: validated at once; if accepted, stored and proposed as a pull request."""
    deadline = time.monotonic() + bridge.settings.request_timeout_s
    workdir = make_tempdir(UPLOAD_TEMP_PREFIX)  # swept on start if this process dies (alignment_ci.tempdirs)
    started = time.perf_counter()
    try:
        upload = await receive_upload(request, workdir / f"upload.{format.value}", bridge.config.bridge.max_upload_bytes)
        timings = {"receive": 1000 * (time.perf_counter() - started)}
        answer = await run_in_threadpool(
            push_batch, bridge, vendor, upload.path, upload.sha256, upload.size, format.value, workdir,
            filename=upload.filename, batch_id_param=batch_id, dimension_param=dimension, deadline=deadline,
            timings=timings,
        )
    finally:
        await run_in_threadpool(shutil.rmtree, workdir, True)
    return JSONResponse(answer.body, status_code=answer.status_code, headers={"Server-Timing": server_timing(timings)})


@router.get("", response_model=BatchList, responses=_ERRORS)
def list_own(
    vendor: VendorDep,
    bridge: BridgeDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> dict:
    """The vendor's own batches, newest first."""
    return {"batches": list_batches(bridge, vendor, limit, offset)}


@router.get("/{batch_id}", response_model=BatchStatus,
            responses={404: {"model": ErrorDetail, "description": "This vendor has no batch with that id."}, **_ERRORS})
def status(batch_id: str, vendor: VendorDep, bridge: BridgeDep) -> dict:
    """Status of one of the vendor's batches (received, rejected, pr_open, gates_passed, gates_failed, merged) and its PR."""
    found = batch_status(bridge, vendor, batch_id)
    if found is None:
        raise HTTPException(404, f"no batch {batch_id[:128]!r} from this vendor")
    return found
