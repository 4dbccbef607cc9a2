"""Refusals from the layers below as JSON errors: a request that cannot be honoured gets a
status and one sentence saying why, and changes nothing."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from ..catalog import CatalogError, UnknownFile, UnknownStore
from ..engine.runbook import RunRefused, UnknownRun
from ..stores import StoreError

# Documented on every API route, so clients (and schemathesis) know every answer.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {
        "description": why,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }
    for code, why in {
        400: "the request names something unsafe or malformed",
        401: "no token was sent",
        403: "the token does not allow this",
        404: "no such task, run, file or store",
        409: "the request conflicts with the task's kind or the run's state",
    }.items()
}


def _error(status: int, exc: Exception) -> JSONResponse:
    detail = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    return JSONResponse({"detail": detail}, status_code=status)


async def run_refused(_request: Request, exc: Exception) -> JSONResponse:
    return _error(404 if isinstance(exc, UnknownRun) else 409, exc)


async def catalog_refused(_request: Request, exc: Exception) -> JSONResponse:
    return _error(404 if isinstance(exc, (UnknownFile, UnknownStore)) else 400, exc)


NUL_REFUSED = "NUL characters are not allowed in paths or parameters"


class RefuseNulCharacters:
    """A NUL in the path or a query parameter names nothing Sexton can hold (PostgreSQL
    refuses it in text outright): 400 for every route, rather than a 500 from deep below.

    Plain ASGI, not ``BaseHTTPMiddleware``: that one would sit in the way of every upload's
    body (it relays the stream through a task group per read)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _names_a_nul(scope):
            await _error(400, ValueError(NUL_REFUSED))(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _names_a_nul(scope: Scope) -> bool:
    if "\x00" in scope["path"]:
        return True
    query = QueryParams(scope.get("query_string", b""))
    return any("\x00" in key + value for key, value in query.multi_items())


# The methods a 405's ``Allow`` may name; OPTIONS is not served.
HTTP_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


async def http_refused(request: Request, exc: Exception) -> Response:
    """FastAPI's own answer, except that a 405 lists in ``Allow`` the methods of every route
    on the path: Starlette names only those of the first route that matched the path, and
    Sexton registers e.g. POST and DELETE of /tasks/NAME/runs as two routes. Each method is
    tried against the app's routes, which also sees into included routers."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        routes = request.app.router.routes
        allowed = [
            method
            for method in HTTP_METHODS
            if any(
                route.matches({**request.scope, "method": method})[0] == Match.FULL
                for route in routes
            )
        ]
        exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    app.add_middleware(RefuseNulCharacters)
    app.add_exception_handler(StarletteHTTPException, http_refused)
    app.add_exception_handler(RunRefused, run_refused)
    app.add_exception_handler(CatalogError, catalog_refused)
    app.add_exception_handler(StoreError, catalog_refused)
