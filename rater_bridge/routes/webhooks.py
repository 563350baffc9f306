"""``POST /v1/webhooks/labelstudio``."""

from __future__ import annotations

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from alignment_ci.errors import InputError

from ..deps import BridgeDep
from ..schemas import ErrorDetail, WebhookAnswer
from ..webhooks import SIGNATURE_HEADER, VENDOR_HEADER, WebhookRefused, authenticate, parse_body, record_annotation, signature_ok

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post(
    "/labelstudio",
    response_model=WebhookAnswer,
    responses={
        400: {"model": ErrorDetail, "description": "Not a Label Studio annotation payload."},
        401: {"model": ErrorDetail, "description": "Missing or bad credential or signature."},
        403: {"model": ErrorDetail, "description": "The project is not bound to this vendor, or signed webhooks are off."},
        413: {"model": ErrorDetail, "description": "Body too large (bridge.max_webhook_bytes)."},
        422: {"model": ErrorDetail, "description": "Body nested too deeply (bridge.max_webhook_depth)."},
    },
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True}},
)
async def labelstudio(
    request: Request,
    bridge: BridgeDep,
    authorization: str | None = Header(
        None, description="`Bearer <token>`: the vendor's webhook token (or API token), set in the Label Studio webhook's headers."),
    signature: str | None = Header(None, alias=SIGNATURE_HEADER, description="Optional: sha256=<hex HMAC-SHA256 of the body under the vendor's signing key>."),
    vendor_name: str | None = Header(None, alias=VENDOR_HEADER, description="The vendor, for signed deliveries without a bearer token."),
) -> dict:
    """A Label Studio webhook delivery (ANNOTATION_CREATED / ANNOTATION_UPDATED / ANNOTATIONS_DELETED)
    for a project bound to the vendor whose credential it carries."""
    try:
        with bridge.read_sessions() as s:
            vendor, key = authenticate(s, authorization=authorization, vendor_name=vendor_name,
                                       has_signature=signature is not None,
                                       master_secret=bridge.environ.get(bridge.settings.labelstudio_secret_env))
            s.commit()
        request.state.vendor = vendor.name
        limit = bridge.settings.max_webhook_bytes
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise WebhookRefused(413, f"webhook body larger than {limit} bytes (bridge.max_webhook_bytes)")
        if key is not None and not signature_ok(key, bytes(body), signature):
            raise WebhookRefused(401, f"bad {SIGNATURE_HEADER}: expected sha256=<HMAC-SHA256 of the body under the vendor's signing key>")
        payload = parse_body(bytes(body), bridge.settings.max_webhook_depth)
        return await run_in_threadpool(record_annotation, bridge, vendor, payload)
    except WebhookRefused as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        raise HTTPException(exc.status, str(exc), headers=headers) from None
    except InputError as exc:
        raise HTTPException(400, str(exc)) from None
