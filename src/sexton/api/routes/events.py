"""Run events, newest first, paged by id so a page is stable while new events arrive."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from ...db import reading
from ...db.tables import run_events
from ..auth import READ
from ..deps import instance_of, task_of
from ..schemas import MAX_ID, EventsPage, event_json

router = APIRouter(tags=["events"])


@router.get("/events", response_model=EventsPage, dependencies=[READ])
def events(
    request: Request,
    task: str | None = None,
    before: int | None = Query(None, ge=1, le=MAX_ID, description="only events older than this id"),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    instance = instance_of(request)
    query = select(run_events).order_by(run_events.c.id.desc()).limit(limit)
    if task is not None:
        task_of(instance, task)
        query = query.where(run_events.c.task == task)
    if before is not None:
        query = query.where(run_events.c.id < before)
    with reading(instance.engine) as connection:
        rows = connection.execute(query).all()
    page = [event_json(row) for row in rows]
    return {"events": page, "next_before": page[-1]["id"] if len(page) == limit else None}
