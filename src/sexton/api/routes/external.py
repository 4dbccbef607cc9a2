"""The external executor: other services claim queued runs of ``executor: external`` tasks,
keep them by heartbeat and report how they ended — the job initiator's pattern.

Claims go through the same claim as a worker's, so ``requires``, ``exclusive_with`` and
single-instance rules hold for external runs too; a service that stops heartbeating loses
its run to the reaper like a dead worker.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from ...engine.record import iso
from ...engine.runbook import Outcome
from ...engine.service import Instance
from ..auth import ADMIN
from ..deps import instance_of, task_of
from ..schemas import MAX_TEXT, ClaimIn, FinishIn, HeartbeatIn, HeartbeatOut, RunId, RunOut

router = APIRouter(tags=["external executor"])


def _lease(instance: Instance, seconds: float | None) -> timedelta:
    return timedelta(seconds=seconds) if seconds else instance.config.settings.worker.lease


@router.post(
    "/runs/claim",
    response_model=RunOut,
    responses={204: {"description": "no run is waiting"}},
    dependencies=[ADMIN],
)
def claim(body: ClaimIn, request: Request) -> Any:
    """Claim the oldest due queued run of the named external tasks (all of them if none are
    named); 204 when there is none."""
    instance = instance_of(request)
    for name in body.tasks:
        if task_of(instance, name).executor != "external":
            raise HTTPException(409, f"{name} is not an external task")
    names = body.tasks or [
        s.name for s in instance.config.tasks.values() if s.executor == "external"
    ]
    now = instance.clock.now()
    run = instance.book.claim(
        names, body.worker, now, _lease(instance, body.lease_seconds), executor="external"
    )
    if run is None:
        return Response(status_code=204)
    return run.to_json()


@router.post("/runs/{run_id}/heartbeat", response_model=HeartbeatOut, dependencies=[ADMIN])
def heartbeat(run_id: RunId, request: Request, body: HeartbeatIn | None = None) -> dict[str, Any]:
    """Keep a claimed run's lease; ``cancel_requested`` tells the service to stop."""
    instance = instance_of(request)
    body = body or HeartbeatIn()
    run, cancel = instance.book.renew_external(
        run_id, body.worker, instance.clock.now(), _lease(instance, body.lease_seconds)
    )
    return {
        "run": run.to_json(),
        "lease_expires_at": iso(run.lease_expires_at),
        "cancel_requested": cancel,
    }


@router.post("/runs/{run_id}/finish", response_model=RunOut, dependencies=[ADMIN])
def finish(run_id: RunId, body: FinishIn, request: Request) -> dict[str, Any]:
    """Record how a claimed run ended; retries and ``after`` followers follow as usual."""
    instance = instance_of(request)
    error = body.error or ("reported failure" if body.outcome == "failed" else None)
    outcome = Outcome(
        state=body.outcome,
        error=error,
        exit_code=body.exit_code,
        items=body.items,
        bytes=body.bytes,
        log_tail=body.log[-MAX_TEXT:] if body.log else None,
    )
    return instance.book.finish_external(
        run_id, body.worker, outcome, instance.clock.now()
    ).to_json()
