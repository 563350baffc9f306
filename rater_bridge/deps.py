"""FastAPI dependencies: the Bridge of the app, and the authenticated vendor."""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .auth import VendorIdentity, vendor_for_token
from .batches import Bridge

bearer = HTTPBearer(auto_error=False, description="The vendor's API token (`alignment-ci bridge vendor add NAME`).")


async def get_bridge(request: Request) -> Bridge:  # async: no worker-thread hop for an attribute read
    return request.app.state.bridge


def current_vendor(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    bridge: Bridge = Depends(get_bridge),
) -> VendorIdentity:
    """The vendor whose token the request carries; 401 otherwise."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise HTTPException(401, "missing bearer token: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    with bridge.read_sessions() as s:
        vendor = vendor_for_token(s, credentials.credentials)
        s.commit()
    if vendor is None:
        raise HTTPException(401, "unknown or revoked token; ask the repository's owner for a new one",
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    request.state.vendor = vendor.name
    return vendor
