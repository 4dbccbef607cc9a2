"""The dashboard: server-rendered pages that work without JavaScript and refresh themselves.

Forms post back here and redirect (post/redirect/get), so a refresh never repeats an action.
The login form checks the token once and keeps it in an HttpOnly, SameSite=Strict cookie:
scripts cannot read it and other sites cannot make the browser send it with a form.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ..db import reading
from ..engine.record import get_run, run_events_of
from ..engine.runbook import RunRefused
from ..sizes import format_size
from .auth import COOKIE, Access, access_for, configured_tokens, require_page
from .board import gather, gather_task
from .deps import instance_of, stores_of, task_of
from .routes.transfers import transfers_board
from .schemas import RunId

REFRESH_SECONDS = 15  # how often the overview reloads itself
COOKIE_DAYS = 30

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)
PageAccess = Annotated[Access, Depends(require_page(Access.READ))]
ActionAccess = Annotated[Access, Depends(require_page(Access.ADMIN))]


def relative(moment: datetime | None, now: datetime) -> str:
    """``5m ago`` / ``in 2h``: what an operator scanning a table wants to know."""
    if moment is None:
        return "—"
    seconds = (now - moment).total_seconds()
    text = duration(abs(seconds), coarse=True)
    return f"{text} ago" if seconds >= 0 else f"in {text}"


def duration(seconds: float | None, coarse: bool = False) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f}s" if coarse or seconds >= 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m" if coarse else f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def stamp(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


templates.env.filters.update(size=format_size, duration=duration, stamp=stamp)
templates.env.globals.update(relative=relative)


def _local_path(target: str) -> str:
    """Only a path on this site may follow a login (no open redirect to another host)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    return templates.TemplateResponse(request, "login.html", {"next": _local_path(next)})


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request, token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/"
) -> Response:
    access = access_for(configured_tokens(instance_of(request)), token.strip())
    if access is None or access < Access.READ:
        error = (
            "That token is not valid here."
            if access is None
            else "That is another site's token: it may only make transfer calls."
        )
        context = {"next": _local_path(next), "error": error}
        return templates.TemplateResponse(request, "login.html", context, status_code=401)
    response = RedirectResponse(_local_path(next), status_code=303)
    response.set_cookie(
        COOKIE,
        token.strip(),
        max_age=COOKIE_DAYS * 86_400,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, access: PageAccess) -> Response:
    board = gather(instance_of(request), stores_of(request))
    context = {
        "board": board,
        "admin": access >= Access.ADMIN,
        "refresh": REFRESH_SECONDS,
        "now": board.now,
        "message": request.query_params.get("message"),
        **transfers_board(instance_of(request)),
    }
    return templates.TemplateResponse(request, "overview.html", context)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: RunId, request: Request, access: PageAccess) -> Response:
    instance = instance_of(request)
    with reading(instance.engine) as connection:
        run = get_run(connection, run_id)
        if run is None:
            raise HTTPException(404, f"no run with id {run_id}")
        events = run_events_of(connection, run_id)
    context = {
        "run": run,
        "events": events,
        "now": instance.clock.now(),
        "admin": access >= Access.ADMIN,
        "refresh": REFRESH_SECONDS if run.finished_at is None else None,
    }
    return templates.TemplateResponse(request, "run.html", context)


@router.get("/tasks/{name}", response_class=HTMLResponse)
def task_page(name: str, request: Request, access: PageAccess) -> Response:
    instance = instance_of(request)
    page = gather_task(instance, task_of(instance, name))
    context = {
        "page": page,
        "t": page.status,
        "now": page.now,
        "admin": access >= Access.ADMIN,
        "refresh": REFRESH_SECONDS,
        "message": request.query_params.get("message"),
    }
    return templates.TemplateResponse(request, "task.html", context)


def _back(message: str, to: str = "/") -> Response:
    """Back to the page the form was on (a path of this site only), with a message."""
    path = _local_path(to).partition("?")[0]
    return RedirectResponse(f"{path}?message={quote(message)}", status_code=303)


BackTo = Annotated[str, Form(max_length=2000)]


@router.post("/tasks/{name}/trigger")
def trigger(name: str, request: Request, _access: ActionAccess, next: BackTo = "/") -> Response:
    instance = instance_of(request)
    task_of(instance, name)
    try:
        run = instance.book.queue(name, "api", instance.clock.now())
    except RunRefused as exc:
        return _back(str(exc), next)
    return _back(f"Queued run {run.id} of {name}", next)


@router.post("/tasks/{name}/clear")
def clear(name: str, request: Request, _access: ActionAccess, next: BackTo = "/") -> Response:
    """The dashboard's ``sexton clear TASK``: a person has looked at the failure."""
    instance = instance_of(request)
    task_of(instance, name)
    instance.book.clear(name)
    return _back(f"Cleared {name}: its error and failure count are forgotten", next)


@router.post("/tasks/{name}/done")
def mark_done(
    name: str,
    request: Request,
    _access: ActionAccess,
    note: Annotated[str, Form(max_length=2000)] = "",
    next: BackTo = "/",
) -> Response:
    instance = instance_of(request)
    if task_of(instance, name).executor != "manual":
        return _back(f"{name} is not a manual duty", next)
    run = instance.book.record_done(name, note.strip() or None, instance.clock.now())
    return _back(f"Recorded {name} as done (run {run.id})", next)
