"""``POST /v1/webhooks/labelstudio``."""

from __future__ import annotations

import json

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from alignment_ci.errors import InputError

from ..deps import BridgeDep, VendorDep
from ..schemas import ErrorDetail, WebhookAnswer
from ..webhooks import SIGNATURE_HEADER, record_annotation, signature_ok

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post(
    "/labelstudio",
    response_model=WebhookAnswer,
    responses={
        400: {"model": ErrorDetail, "description": "Not a Label Studio annotation payload."},
        401: {"model": ErrorDetail, "description": "Missing or bad token or signature."},
        403: {"model": ErrorDetail, "description": "The webhook secret is not configured on the bridge."},
        413: {"model": ErrorDetail, "description": "Body too large."},
    },
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True}},
)
async def labelstudio(
    request: Request,
    vendor: VendorDep,
    bridge: BridgeDep,
    signature: str | None = Header(None, alias=SIGNATURE_HEADER, description="sha256=<hex HMAC-SHA256 of the body>"),
) -> dict:
    """A Label Studio webhook delivery (ANNOTATION_CREATED / ANNOTATION_UPDATED), signed with the shared secret."""
    secret = bridge.environ.get(bridge.settings.labelstudio_secret_env)
    if not secret:
        raise HTTPException(403, f"the Label Studio webhook is off: set {bridge.settings.labelstudio_secret_env} on the bridge")
    limit = bridge.settings.max_webhook_bytes
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"webhook body larger than {limit} bytes")
    if not signature_ok(secret, bytes(body), signature):
        raise HTTPException(401, f"bad or missing {SIGNATURE_HEADER}: expected sha256=<HMAC-SHA256 of the body with the shared secret>")
    try:
        payload = json.loads(bytes(body))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HTTPException(400, "the webhook body is not JSON") from None
    try:
        return await run_in_threadpool(record_annotation, bridge, vendor, payload)
    except InputError as exc:
        raise HTTPException(400, str(exc)) from None

