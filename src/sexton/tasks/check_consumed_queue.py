"""``check_consumed_queue``: ask each destination how the files sent to it stand, and record
what it says — staged, completed with a verified checksum (a confirmed remote instance), or
failed (offered again by the next ``send_clone``). It is also how the source learns of
arrivals whose callback was lost."""

from __future__ import annotations

from ..transfer.follow import Followed, by_site, follow
from ..transfer.records import ONGOING, OUTGOING, STAGED
from ..transfer.runs import SiteRun
from ..transfer.sites import SiteError
from .base import RunContext, Task, TaskFailed, TaskParams


class CheckConsumedQueueTask(Task):
    type = "check_consumed_queue"

    class Params(TaskParams):
        pass

    def run(self, ctx: RunContext) -> None:
        followed = Followed()
        problems = []
        with SiteRun(ctx) as sites:
            flying = sites.book.in_flight(OUTGOING, (ONGOING, STAGED))
            for site, transfers in by_site(flying).items():
                if ctx.should_stop():
                    break
                try:
                    follow(sites.book, sites.client(site), sites.me, transfers, followed)
                except (SiteError, TaskFailed) as exc:
                    problems.append(f"{site}: {exc}")
        ctx.progress(items=sum(followed.counts.values()))
        ctx.event("checked", **followed.counts)
        if problems:
            raise TaskFailed("; ".join(problems))
