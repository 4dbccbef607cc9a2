"""Tasks: their status (the dead man's switch), triggering a run, cleaning finished runs,
clearing a sticky error."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ...db import reading
from ...engine.monitor import Monitor
from ...engine.record import list_runs
from ..auth import ADMIN, READ
from ..deps import instance_of, task_of
from ..schemas import DeletedOut, RunOut, TaskDetail, TaskOut

RECENT_RUNS = 20  # runs shown with one task; the full history is /runs?task=

router = APIRouter(tags=["tasks"])


@router.get("/tasks", response_model=list[TaskOut], dependencies=[READ])
def list_tasks(request: Request) -> list[dict[str, Any]]:
    """Every configured task with its status, last run, last success and next due time."""
    instance = instance_of(request)
    monitor = Monitor(instance.config, instance.engine)
    return [status.to_json() for status in monitor.statuses(instance.clock.now())]


@router.get("/tasks/{name}", response_model=TaskDetail, dependencies=[READ])
def show_task(name: str, request: Request) -> dict[str, Any]:
    """One task's status and its most recent runs."""
    instance = instance_of(request)
    task_of(instance, name)
    [status] = Monitor(instance.config, instance.engine).statuses(instance.clock.now(), [name])
    with reading(instance.engine) as connection:
        recent = list_runs(connection, task=name, limit=RECENT_RUNS)
    return {**status.to_json(), "recent_runs": [run.to_json() for run in recent]}


@router.post("/tasks/{name}/runs", status_code=202, response_model=RunOut, dependencies=[ADMIN])
def trigger(name: str, request: Request) -> dict[str, Any]:
    """Queue a run now (reason ``api``); a worker, or an external service, picks it up."""
    instance = instance_of(request)
    task_of(instance, name)
    return instance.book.queue(name, "api", instance.clock.now()).to_json()


@router.delete("/tasks/{name}/runs", response_model=DeletedOut, dependencies=[ADMIN])
def delete_finished(name: str, request: Request) -> dict[str, Any]:
    """Forget the task's finished runs; queued and running ones stay."""
    instance = instance_of(request)
    task_of(instance, name)
    return {"task": name, "deleted": instance.book.delete_finished(name)}


@router.post("/tasks/{name}/clear", response_model=TaskOut, dependencies=[ADMIN])
def clear(name: str, request: Request) -> dict[str, Any]:
    """Forget the task's sticky error and failure count (``sexton clear``); its status after."""
    instance = instance_of(request)
    task_of(instance, name)
    instance.book.clear(name)
    [status] = Monitor(instance.config, instance.engine).statuses(instance.clock.now(), [name])
    return status.to_json()
