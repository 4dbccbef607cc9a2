"""Reports from outside: pings from jobs run elsewhere (heartbeat tasks) and manual duties
done by people. Both record ordinary runs, so status and history treat them alike."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from ...config import TaskSpec
from ..auth import ADMIN
from ..deps import instance_of, task_of
from ..schemas import MAX_TEXT, DoneIn, RunOut

router = APIRouter(tags=["reports"])


def _of_executor(spec: TaskSpec, executor: str, how: str) -> None:
    if spec.executor != executor:
        raise HTTPException(409, f"{spec.name} is a {spec.executor} task; {how}")


PING = "/tasks/{name}/ping/{signal}"


@router.get(PING, response_model=RunOut, dependencies=[ADMIN], operation_id="ping_get")
@router.post(PING, response_model=RunOut, dependencies=[ADMIN], operation_id="ping")
async def ping(
    name: str,
    signal: Literal["start", "success", "fail"],
    request: Request,
    exit_code: int | None = Query(None, ge=-(2**31), lt=2**31),
) -> dict[str, Any]:
    """A job run elsewhere reports in (GET works too, for ``curl`` in a crontab). A POST body,
    e.g. the job's output, is kept as the run's log."""
    instance = instance_of(request)
    _of_executor(task_of(instance, name), "heartbeat", "only heartbeat tasks take pings")
    body = (await request.body())[:MAX_TEXT].decode("utf-8", "replace") or None
    run = instance.book.ping(name, signal, instance.clock.now(), exit_code, "api", log=body)
    return run.to_json()


@router.post("/tasks/{name}/done", response_model=RunOut, dependencies=[ADMIN])
def done(name: str, request: Request, body: DoneIn | None = None) -> dict[str, Any]:
    """A person did a manual duty: recorded as a succeeded run with their note."""
    instance = instance_of(request)
    _of_executor(task_of(instance, name), "manual", "only manual duties are marked done")
    note = body.note if body else None
    return instance.book.record_done(name, note, instance.clock.now()).to_json()
