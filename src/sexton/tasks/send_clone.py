"""``send_clone``: offer files the destination site lacks, in batches, and queue the
accepted ones for ``consume_queue``.

The destination answers per file: accepted (the bytes are to follow), already held with the
same checksum (a confirmed remote instance at once), or refused, which is recorded and
reported. A file refused for a reason that may pass (no room, a disabled store) is offered
again after ``reoffer_refused_after``; one refused for good (another checksum) is offered
again only once a person has looked and run ``sexton clear`` on the task.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from pydantic import Field, model_validator
from sqlalchemy import Connection

from ..config.models import Duration
from ..durations import format_duration
from ..transfer.messages import MAX_BATCH, OfferedFile, StageRequest
from ..transfer.records import FAILED, Refusal, reoffer_refused
from ..transfer.runs import SiteRun
from ..transfer.sites import SiteError
from .base import RunContext, Task, TaskFailed, TaskParams


class SendCloneTask(Task):
    type = "send_clone"

    class Params(TaskParams):
        destination: str | None = None  # a name under `sites:`
        destination_librarian: str | None = None  # the librarian's name for `destination`
        age_in_days: int | None = Field(default=7, ge=0)
        store_preference: str | None = None
        send_batch_size: int = Field(default=128, ge=1, le=MAX_BATCH)
        # How long a file refused for lack of room waits before it is offered again.
        reoffer_refused_after: Duration = timedelta(days=1)

        @model_validator(mode="after")
        def _one_destination(self) -> SendCloneTask.Params:
            if (self.destination is None) == (self.destination_librarian is None):
                raise ValueError("give destination (or destination_librarian), once")
            return self

        @property
        def site(self) -> str:
            return self.destination or self.destination_librarian or ""

    @classmethod
    def cleared(cls, connection: Connection, params: Any) -> None:
        reoffer_refused(connection, params.site)

    def run(self, ctx: RunContext) -> None:
        params: SendCloneTask.Params = ctx.params
        window = (
            None if params.age_in_days is None else ctx.now() - timedelta(days=params.age_in_days)
        )
        counts = {"accepted": 0, "held": 0, "refused": 0, "unanswered": 0}
        refusals: list[Refusal] = []
        with SiteRun(ctx) as sites:
            me, client = sites.me, sites.client(params.site)
            while not ctx.should_stop():
                chosen = sites.book.candidates(
                    params.site,
                    params.store_preference,
                    window,
                    params.send_batch_size,
                    refused_before=ctx.now() - params.reoffer_refused_after,
                )
                if not chosen:
                    break
                batch = uuid.uuid4().hex
                ids = sites.book.start_outgoing(params.site, batch, chosen)
                offered = [
                    OfferedFile(id=i, name=c.name, size=c.size, checksum=c.checksum)
                    for i, c in zip(ids, chosen, strict=True)
                ]
                try:
                    reply = client.stage(StageRequest(source=me, batch=batch, files=offered))
                except SiteError as exc:
                    sites.book.set_state(ids, FAILED, str(exc))
                    raise TaskFailed(f"could not offer a batch to {params.site}: {exc}") from None
                answered = sites.book.record_answers(params.site, batch, ids, reply.files)
                counts["accepted"] += answered.accepted
                counts["held"] += answered.held
                counts["unanswered"] += answered.unanswered
                counts["refused"] += len(answered.refused)
                refusals += answered.refused
                ctx.progress(items=len(ids))
        ctx.event("offered", destination=params.site, **counts)
        if refusals:
            raise TaskFailed(
                _refused(ctx.task_name, params.site, refusals, params.reoffer_refused_after)
            )


def _refused(task: str, site: str, refusals: list[Refusal], wait: timedelta) -> str:
    """The run's error: how many files were refused, what becomes of them, and a few whys."""
    for_now = sum(r.for_now for r in refusals)
    parts = []
    if for_now:
        parts.append(f"{for_now} offered again in {format_duration(wait)} at the earliest")
    if for_now < len(refusals):
        parts.append(
            f"{len(refusals) - for_now} not offered again until looked at (then `sexton clear"
            f" {task}`)"
        )
    shown = "; ".join(f"{r.name}: {r.reason}" for r in refusals[:3])
    return f"{site} refused {len(refusals)} files, kept here: {', '.join(parts)} ({shown})"
