"""The FastAPI application of the rater bridge.

``create_app(config)`` wires the database (``bridge.database_url``: SQLite by default,
PostgreSQL by URL), the artifact store and the forge from alignment.yaml;
``alignment-ci bridge serve`` runs it with uvicorn. Every route under ``/v1`` needs a
vendor's bearer token and sees only that vendor's batches and tasks; ``/healthz``,
``/openapi.json`` and ``/docs`` are open.

On start it rolls back publishes a killed bridge left half-done and removes the
temporary upload directories of dead processes (:mod:`.batches`); while it runs, a
background task returns expired task assignments to the queue every
``bridge.assignment_expiry_interval_s``. :mod:`.limits` bounds request bodies and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from alignment_ci import __version__
from alignment_ci.config import BridgeSettings, Config, load_config
from alignment_ci.errors import AlignmentCIError, InputError, StoreError
from alignment_ci.monitor.queue import QueueError, expire_assignments, session_scope

from .batches import recover_interrupted, sweep_temporary
from .db import create_tables, make_engine, utcnow
from .limits import LimitExceeded, LimitsMiddleware
from .logs import AccessLogMiddleware
from .routes import batches, health, tasks, webhooks
from .schemas import ErrorDetail
from .settings import database_url
from .state import Bridge

log = logging.getLogger("rater_bridge")


def open_bridge(
    config: Config | None = None,
    *,
    engine: Engine | None = None,
    settings: BridgeSettings | None = None,
    workspace: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Bridge:
    """The bridge's state (database with its tables, store, forge) as the app and the CLI use it.
    ``settings`` replaces alignment.yaml's ``bridge:`` section; ``engine`` defaults to one on
    ``bridge.database_url``; ``workspace`` (where the local forge writes) to the directory of alignment.yaml."""
    config = config if config is not None else load_config()
    if settings is not None:
        config = config.model_copy(update={"bridge": settings})
    env = os.environ if environ is None else environ
    engine = engine if engine is not None else make_engine(database_url(config, dict(env)))
    create_tables(engine)
    return Bridge(
        config=config,
        engine=engine,
        workspace=Path(workspace) if workspace is not None else config.root,
        environ=env,
    )


def create_app(
    config: Config | None = None,
    *,
    engine: Engine | None = None,
    settings: BridgeSettings | None = None,
    workspace: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> FastAPI:
    """The bridge app (arguments as for :func:`open_bridge`)."""
    started_at = utcnow()
    bridge = open_bridge(config, engine=engine, settings=settings, workspace=workspace, environ=environ)
    rolled_back = recover_interrupted(bridge, started_at)
    swept = sweep_temporary()
    if rolled_back or swept:
        log.warning("recovered from a crash: %d interrupted publish(es) rolled back to 'failed' (the next push of the "
                    "same file publishes it), %d stale temporary director(ies) removed", rolled_back, len(swept))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        interval = bridge.settings.assignment_expiry_interval_s
        task = asyncio.create_task(_expire_periodically(bridge, interval)) if interval > 0 else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="alignment-ci rater bridge",
        version=__version__,
        description="Vendors push label batches and pull rater tasks. Authenticate with `Authorization: Bearer <token>`.",
        lifespan=lifespan,
    )
    app.state.bridge = bridge
    app.include_router(health.router)
    app.include_router(batches.router)
    app.include_router(tasks.router)
    app.include_router(webhooks.router)
    app.add_middleware(LimitsMiddleware, bridge=bridge)
    app.add_middleware(AccessLogMiddleware)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # 400, not FastAPI's 422: 422 is reserved for a label batch that validated and was rejected.
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=400)

    @app.exception_handler(LimitExceeded)
    async def _limit(_: Request, exc: LimitExceeded) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status_code)

    @app.exception_handler(InputError)
    async def _input_error(_: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(StoreError)
    async def _store_error(_: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": f"{exc}; push again (pushes are idempotent)"}, status_code=502)

    @app.exception_handler(QueueError)
    async def _queue_error(_: Request, exc: QueueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(AlignmentCIError)
    async def _upstream_error(_: Request, exc: AlignmentCIError) -> JSONResponse:
        # Forge (GitHub) failures and contention while publishing: the push can be repeated.
        return JSONResponse({"detail": f"{exc}; push again (pushes are idempotent)"}, status_code=502)

    _document_bad_requests(app)
    return app


def expire_once(bridge: Bridge) -> int:
    """Return every task assignment older than ``queue.assignment_ttl_minutes`` to the queue; how many."""
    with bridge.write_lock, session_scope(bridge.engine) as s:
        return expire_assignments(s, settings=bridge.config.queue)


async def _expire_periodically(bridge: Bridge, interval_s: float) -> None:
    while True:
        try:
            expired = await run_in_threadpool(expire_once, bridge)
            if expired:
                log.info("returned %d expired assignment(s) to the queue", expired)
        except asyncio.CancelledError:
            raise
        except Exception:  # a database hiccup must not end the schedule; the next round retries
            log.exception("assignment expiry failed; retrying in %.0f s", interval_s)
        await asyncio.sleep(interval_s)


def _document_bad_requests(app: FastAPI) -> None:
    """Request-validation errors are answered with 400 (see above): say so in the spec,
    in place of FastAPI's default 422 entry."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            for ops in spec.get("paths", {}).values():
                for op in ops.values():
                    responses = op.get("responses", {})
                    default = responses.get("422", {})
                    ref = str(default.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", ""))
                    if ref.endswith("/HTTPValidationError"):
                        del responses["422"]
                        responses.setdefault("400", {
                            "description": "Bad request: a parameter or the body does not match this spec.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}},
                        })
            spec.setdefault("components", {}).setdefault("schemas", {})

            spec["components"]["schemas"].setdefault("ErrorDetail", ErrorDetail.model_json_schema())
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
