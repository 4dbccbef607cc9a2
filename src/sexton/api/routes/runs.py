"""Runs: the history, one run with its log, cancelling."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from ...db import reading
from ...engine.record import get_run, list_runs, run_events_of
from ..auth import ADMIN, READ
from ..deps import instance_of, task_of
from ..schemas import RunDetail, RunId, RunOut, RunState, event_json

router = APIRouter(tags=["runs"])


@router.get("/runs", response_model=list[RunOut], dependencies=[READ])
def runs(
    request: Request,
    task: str | None = None,
    state: RunState | None = None,
    limit: int = Query(50, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """Runs, newest first, optionally of one task and in one state."""
    instance = instance_of(request)
    if task is not None:
        task_of(instance, task)
    with reading(instance.engine) as connection:
        return [run.to_json() for run in list_runs(connection, task, state, limit)]


@router.get("/runs/{run_id}", response_model=RunDetail, dependencies=[READ])
def show_run(run_id: RunId, request: Request) -> dict[str, Any]:
    """One run with the tail of its log and every event it went through."""
    with reading(instance_of(request).engine) as connection:
        run = get_run(connection, run_id)
        if run is None:
            raise HTTPException(404, f"no run with id {run_id}")
        events = [event_json(row) for row in run_events_of(connection, run_id)]
    return {**run.to_json(), "log_tail": run.log_tail, "events": events}


@router.post("/runs/{run_id}/cancel", response_model=RunOut, dependencies=[ADMIN])
def cancel(run_id: RunId, request: Request) -> dict[str, Any]:
    """Cancel a queued run at once; ask a running one to stop (its worker ends it)."""
    instance = instance_of(request)
    return instance.book.cancel(run_id, instance.clock.now()).to_json()
