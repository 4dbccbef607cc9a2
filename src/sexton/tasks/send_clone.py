"""``send_clone``: offer files the destination site lacks, in batches, and queue the
accepted ones for ``consume_queue``.

The destination answers per file: accepted (the bytes are to follow), already held with the
same checksum (a confirmed remote instance at once), or refused — no room, another checksum —
which is recorded and reported and not offered again until a person acts.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from pydantic import Field, model_validator

from ..transfer.messages import MAX_BATCH, OfferedFile, StageRequest
from ..transfer.queue import TransferQueue
from ..transfer.records import FAILED
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

        @model_validator(mode="after")
        def _one_destination(self) -> SendCloneTask.Params:
            if (self.destination is None) == (self.destination_librarian is None):
                raise ValueError("give destination (or destination_librarian), once")
            return self

        @property
        def site(self) -> str:
            return self.destination or self.destination_librarian or ""

    def run(self, ctx: RunContext) -> None:
        params: SendCloneTask.Params = ctx.params
        window = (
            None if params.age_in_days is None else ctx.now() - timedelta(days=params.age_in_days)
        )
        queue = TransferQueue(ctx.catalog.engine, ctx.catalog.clock)
        counts = {"accepted": 0, "held": 0, "refused": 0}
        refusals: list[str] = []
        with SiteRun(ctx) as sites:
            me, client = sites.me, sites.client(params.site)
            while not ctx.should_stop():
                chosen = sites.book.candidates(
                    params.site, params.store_preference, window, params.send_batch_size
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
                answers = {a.id: a for a in reply.files}
                by_id = {t.id: t for t in sites.book.by_ids(ids)}
                for id_ in ids:
                    answer = answers.get(id_)
                    if answer is None:
                        sites.book.set_state([id_], FAILED, "the destination did not answer for it")
                    elif answer.answer == "accepted" and answer.incoming_id is not None:
                        sites.book.accepted(id_, answer.incoming_id, answer.staging_path)
                        counts["accepted"] += 1
                    elif answer.answer == "held" and answer.store and answer.checksum:
                        if not sites.book.complete_outgoing(
                            by_id[id_], answer.store, answer.checksum
                        ):
                            sites.book.set_state(
                                [id_],
                                FAILED,
                                f"{params.site} holds it with another checksum",
                                refused=True,
                            )
                        counts["held"] += 1
                    else:
                        reason = answer.reason or "refused without a reason"
                        sites.book.set_state([id_], FAILED, reason, refused=True)
                        refusals.append(f"{by_id[id_].name}: {reason}")
                        counts["refused"] += 1
                if any(a.answer == "accepted" for a in reply.files):
                    queue.add(batch, params.site)
                ctx.progress(items=len(ids))
        ctx.event("offered", destination=params.site, **counts)
        if refusals:
            shown = "; ".join(refusals[:3])
            raise TaskFailed(
                f"{params.site} refused {len(refusals)} files, kept here and not offered again "
                f"until looked at ({shown})"
            )
