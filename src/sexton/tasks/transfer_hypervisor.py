"""``transfer_hypervisor``: settle transfers that have made no progress for ``age_in_days``.

Outgoing ones are compared with the destination: completed if it holds a verified copy with
the file's checksum, failed (and cancelled there) otherwise, so ``send_clone`` offers them
again. Incoming ones whose bytes never came are failed. Unconfirmed duplicate
remote-instance records are merged away.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from ..transfer.follow import Followed, by_site, follow
from ..transfer.records import FAILED, IN_FLIGHT, INCOMING, INITIATED, OUTGOING
from ..transfer.runs import SiteRun
from ..transfer.sites import SiteError
from .base import RunContext, Task, TaskFailed, TaskParams


class TransferHypervisorTask(Task):
    type = "transfer_hypervisor"

    class Params(TaskParams):
        age_in_days: float = Field(default=7, ge=0)

    def run(self, ctx: RunContext) -> None:
        params: TransferHypervisorTask.Params = ctx.params
        stuck_since = ctx.now() - timedelta(days=params.age_in_days)
        followed = Followed()
        problems = []
        with SiteRun(ctx) as sites:
            stuck = sites.book.in_flight(OUTGOING, IN_FLIGHT, updated_before=stuck_since)
            for site, transfers in by_site(stuck).items():
                try:
                    follow(
                        sites.book, sites.client(site), sites.me, transfers, followed, settle=True
                    )
                except (SiteError, TaskFailed) as exc:
                    problems.append(f"{site}: {exc}")
            never_came = sites.book.in_flight(INCOMING, (INITIATED,), updated_before=stuck_since)
            # Accepted here, never sent: nothing was staged, so failing them is all there is.
            gone = sites.book.set_state([t.id for t in never_came], FAILED, "no bytes came")
            followed.counts["incoming_failed"] += gone
            merged = sites.book.merge_remote_duplicates()
        ctx.progress(items=sum(followed.counts.values()) + merged)
        ctx.event("reconciled", merged=merged, **followed.counts)
        if problems:
            raise TaskFailed("; ".join(problems))
