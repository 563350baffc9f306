"""The FastAPI application of the rater bridge.

``create_app(config)`` wires the database (``bridge.database_url``: SQLite by default,
PostgreSQL by URL), the artifact store and the forge from alignment.yaml;
``alignment-ci bridge serve`` runs it with uvicorn. Every route under ``/v1`` needs a
vendor's bearer token and sees only that vendor's batches and tasks; ``/healthz``,
``/openapi.json`` and ``/docs`` are open.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from alignment_ci import __version__
from alignment_ci.config import Config, load_config
from alignment_ci.errors import AlignmentCIError, InputError, StoreError
from alignment_ci.monitor.queue import QueueError

from .batches import Bridge
from .db import create_tables, make_engine
from .logs import AccessLogMiddleware
from .routes import batches, health, tasks, webhooks
from .schemas import ErrorDetail
from .settings import BridgeServiceSettings, database_url, service_settings


def open_bridge(
    config: Config | None = None,
    *,
    engine: Engine | None = None,
    settings: BridgeServiceSettings | None = None,
    workspace: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Bridge:
    """The bridge's state (database with its tables, store, forge) as the app and the CLI use it.
    ``engine`` defaults to one on ``bridge.database_url``; ``workspace`` (where the local
    forge writes) to the directory of alignment.yaml."""
    config = config if config is not None else load_config()
    env = os.environ if environ is None else environ
    engine = engine if engine is not None else make_engine(database_url(config, dict(env)))
    create_tables(engine)
    return Bridge(
        config=config,
        settings=settings or service_settings(config),
        engine=engine,
        workspace=Path(workspace) if workspace is not None else config.root,
        environ=env,
    )


def create_app(
    config: Config | None = None,
    *,
    engine: Engine | None = None,
    settings: BridgeServiceSettings | None = None,
    workspace: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> FastAPI:
    """The bridge app (arguments as for :func:`open_bridge`)."""
    bridge = open_bridge(config, engine=engine, settings=settings, workspace=workspace, environ=environ)
    app = FastAPI(
        title="alignment-ci rater bridge",
        version=__version__,
        description="Vendors push label batches and pull rater tasks. Authenticate with `Authorization: Bearer <token>`.",
    )
    app.state.bridge = bridge
    app.include_router(health.router)
    app.include_router(batches.router)
    app.include_router(tasks.router)
    app.include_router(webhooks.router)
    app.add_middleware(AccessLogMiddleware)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # 400, not FastAPI's 422: 422 is reserved for a label batch that validated and was rejected.
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=400)

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
