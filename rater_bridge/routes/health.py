"""``GET /healthz``: liveness and database reachability (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from alignment_ci import __version__

from ..deps import BridgeDep
from ..schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health, "description": "The database is unreachable."}})
def healthz(bridge: BridgeDep) -> JSONResponse:
    """200 when the service and its database answer."""
    try:
        with bridge.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception:  # any driver error means "not ready"; details go to the server log, not to callers
        database = "unreachable"
    body = {"status": "ok" if database == "ok" else "degraded", "database": database, "version": __version__}
    return JSONResponse(body, status_code=200 if database == "ok" else 503)
