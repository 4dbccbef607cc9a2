"""Reports from outside: pings from jobs run elsewhere (heartbeat tasks) and manual duties
done by people. Both record ordinary runs, so status and history treat them alike.

Pings come two ways: ``/api/v1/tasks/NAME/ping/SIGNAL`` with the API's tokens, and the URLs
cron users already send to healthchecks.io (``/ping/TASK``, ``/ping/TASK/start``,
``/ping/TASK/fail``, ``/ping/TASK/EXIT_STATUS``) for clients that cannot send headers: a
``ping`` (or admin) token in the header or as ``?token=``, or the task's own ``ping_key`` in
place of its name.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from ...config import TaskSpec
from ...engine.service import Instance
from ..auth import ADMIN, Access, BearerCredentials, authorise, presented_token
from ..deps import instance_of, task_of
from ..errors import ERROR_RESPONSES
from ..schemas import DoneIn, RunOut

router = APIRouter(tags=["reports"])
# The healthchecks.io-style URLs, outside /api/v1 so a crontab line stays short.
pings = APIRouter(tags=["pings"], responses=ERROR_RESPONSES)

# Bytes of a ping's body kept as the run's log (healthchecks keeps 100 kB). The end is kept:
# that is where a job's output says how it ended.
PING_LOG_BYTES = 100_000


def _of_executor(spec: TaskSpec, executor: str, how: str) -> None:
    if spec.executor != executor:
        raise HTTPException(409, f"{spec.name} is a {spec.executor} task; {how}")


async def _log_tail(request: Request) -> str | None:
    """The last PING_LOG_BYTES of the request body, read without holding all of it."""
    tail = b""
    async for chunk in request.stream():
        tail = (tail + chunk)[-PING_LOG_BYTES:]
    return tail.decode("utf-8", "replace") or None


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
    body = await _log_tail(request)
    run = instance.book.ping(name, signal, instance.clock.now(), exit_code, "api", log=body)
    return run.to_json()


TaskOrKey = Annotated[str, Path(description="The task's name, or its ping_key (no token then)")]
Signal = Annotated[
    str,
    Path(
        description="start, fail, or the job's exit status (0 succeeded, 1-255 failed)",
        pattern=r"^(start|fail|25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$",
    ),
]
TokenParam = Annotated[
    str | None, Query(description="A ping or admin token, for clients that cannot send headers")
]
RunIdParam = Annotated[
    UUID | None, Query(description="The job's own run id: pairs each end with its start")
]


def _pinged_task(
    request: Request,
    task: TaskOrKey,
    token: TokenParam = None,
    _bearer: BearerCredentials = None,
) -> TaskSpec:
    """The heartbeat task a ping names by its ping_key, or by its name with a ping or admin
    token (header, else ``?token=``). A dependency, so a bad token is refused (401/403)
    before anything about the request or the task is said."""
    instance = instance_of(request)
    spec = _task_with_key(instance, task)
    if spec is None:
        authorise(request, presented_token(request) or token, Access.ADMIN, also=Access.PING)
        spec = task_of(instance, task)
    _of_executor(spec, "heartbeat", "only heartbeat tasks take pings")
    return spec


def _task_with_key(instance: Instance, key: str) -> TaskSpec | None:
    """The task whose ping_key this is, compared with every key in constant time."""
    found = None
    for spec in instance.config.tasks.values():
        own = spec.settings.ping_key
        if own is not None and hmac.compare_digest(own.encode(), key.encode()):
            found = spec
    return found


PingedTask = Annotated[TaskSpec, Depends(_pinged_task)]


@pings.get("/ping/{task}", response_model=RunOut, operation_id="cron_ping_get")
@pings.post("/ping/{task}", response_model=RunOut, operation_id="cron_ping")
async def cron_ping(spec: PingedTask, request: Request, rid: RunIdParam = None) -> dict[str, Any]:
    """The job succeeded; a body (its output, the last 100 kB) is kept as the run's log."""
    return await _report(request, spec, "success", None, rid)


@pings.get("/ping/{task}/{signal}", response_model=RunOut, operation_id="cron_signal_get")
@pings.post("/ping/{task}/{signal}", response_model=RunOut, operation_id="cron_signal")
async def cron_signal(
    spec: PingedTask, signal: Signal, request: Request, rid: RunIdParam = None
) -> dict[str, Any]:
    """The job started, failed, or ended with an exit status (0 is success)."""
    if signal in ("start", "fail"):
        return await _report(request, spec, signal, None, rid)
    status = int(signal)
    return await _report(request, spec, "fail" if status else "success", status, rid)


async def _report(
    request: Request, spec: TaskSpec, signal: str, exit_code: int | None, rid: UUID | None
) -> dict[str, Any]:
    instance = instance_of(request)
    log = await _log_tail(request)
    run = instance.book.ping(
        spec.name,
        signal,
        instance.clock.now(),
        exit_code,
        "api",
        log=log,
        rid=str(rid) if rid else None,
    )
    return run.to_json()


@router.post("/tasks/{name}/done", response_model=RunOut, dependencies=[ADMIN])
def done(name: str, request: Request, body: DoneIn | None = None) -> dict[str, Any]:
    """A person did a manual duty: recorded as a succeeded run with their note."""
    instance = instance_of(request)
    _of_executor(task_of(instance, name), "manual", "only manual duties are marked done")
    note = body.note if body else None
    return instance.book.record_done(name, note, instance.clock.now()).to_json()
