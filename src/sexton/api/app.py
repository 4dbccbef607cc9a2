"""The web application: the JSON API under ``/api/v1``, ``/metrics``, ``/healthz`` and the
dashboard, over one opened instance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from .. import metrics
from ..catalog import OpenStores
from ..db import reading
from ..engine.service import Instance
from . import dashboard, errors
from .auth import READ, LoginNeeded
from .deps import instance_of, stores_of
from .routes import catalog, events, external, reports, runs, tasks, transfers
from .schemas import ErrorOut, Health

API_PREFIX = "/api/v1"
STATIC = Path(__file__).parent / "static"


def create_app(instance: Instance) -> FastAPI:
    app = FastAPI(
        title="Sexton",
        summary="The routine duties of a data archive: status, runs, reports, catalog.",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.instance = instance
    app.state.stores = OpenStores(instance.config.settings.stores)
    api = APIRouter(prefix=API_PREFIX, responses=errors.ERROR_RESPONSES)
    for area in (tasks, runs, reports, external, catalog, events, transfers):
        api.include_router(area.router)
    app.include_router(api)
    app.include_router(reports.pings)
    app.include_router(dashboard.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    errors.install(app)
    app.add_exception_handler(LoginNeeded, _to_login)
    app.add_api_route(
        "/healthz",
        healthz,
        response_model=Health,
        tags=["service"],
        responses={503: {"model": Health, "description": "the database does not answer"}},
    )
    app.add_api_route(
        "/metrics",
        scrape,
        dependencies=[READ],
        tags=["service"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}, **errors.ERROR_RESPONSES},
    )
    _publish_error_schema(app)
    return app


def _publish_error_schema(app: FastAPI) -> None:
    """Every route's documented errors refer to one ``ErrorOut`` schema; add it once. And
    the schema says what `errors.RefuseNulCharacters` enforces: no text parameter holds a NUL."""
    build = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["ErrorOut"] = ErrorOut.model_json_schema()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    for parameter in operation.get("parameters", []):
                        _without_nul(parameter.get("schema", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _without_nul(schema: dict[str, Any]) -> None:
    """A text parameter's schema, and each text alternative of it, refuse NUL characters."""
    for alternative in schema.get("anyOf", [schema]):
        if alternative.get("type") == "string" and "pattern" not in alternative:
            alternative["pattern"] = "^[^\\x00]*$"


def healthz(request: Request) -> JSONResponse:
    """Alive, and the database answers. Needs no token (load balancers, systemd)."""
    try:
        with reading(instance_of(request).engine) as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # the probe reports any database failure, it does not raise
        return JSONResponse({"status": "failing", "database": type(exc).__name__}, 503)
    return JSONResponse({"status": "ok", "database": "ok"})


def scrape(request: Request) -> Response:
    """Prometheus metrics (read token), computed from the database."""
    body = metrics.render(instance_of(request), stores_of(request))
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


async def _to_login(request: Request, _exc: Exception) -> Response:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
