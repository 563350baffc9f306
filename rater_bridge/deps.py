"""FastAPI dependencies as ``Annotated`` aliases: the app's :class:`Bridge`, the authenticated
vendor, and a write session on the bridge's database.

A route declares ``bridge: BridgeDep, vendor: VendorDep`` (or ``session: SessionDep``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from .auth import VendorIdentity, vendor_for_token
from .state import Bridge

bearer = HTTPBearer(auto_error=False, description="The vendor's API token (`alignment-ci bridge vendor add NAME`).")


async def get_bridge(request: Request) -> Bridge:  # async: no worker-thread hop for an attribute read
    return request.app.state.bridge


BridgeDep = Annotated[Bridge, Depends(get_bridge)]
CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def current_vendor(request: Request, credentials: CredentialsDep, bridge: BridgeDep) -> VendorIdentity:
    """The vendor whose token the request carries; 401 otherwise. A synchronous dependency (one
    hop to FastAPI's threadpool); a hot route can call it inside its own threadpool call instead."""
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


VendorDep = Annotated[VendorIdentity, Depends(current_vendor)]


def write_session(bridge: BridgeDep) -> Iterator[Session]:
    """A session on the bridge's database for one request's writes (holding the SQLite write lock)."""
    with bridge.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(write_session)]
