"""``receive_clone`` (the librarian also spells it ``recieve_clone``): ingest files other sites
sent here. Each staged file is verified (size, checksum) while it is moved into the store
under a temporary name, registered with the task's deletion policy, and reported to its
source; one that does not match is failed at both ends and its staged bytes removed, so the
source sends it again. Each run also removes what uploads cut off by a kill left in staging,
once stale.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from pydantic import Field, field_validator

from ..catalog import DISALLOWED, CatalogError, deletion_policy
from ..stores import StoreError, StoreFull
from ..stores.paths import STALE_TEMP_AGE
from ..transfer.messages import Confirmation
from ..transfer.records import FINAL, INCOMING, STAGED, TransferBook
from ..transfer.runs import SiteRun
from ..transfer.sites import SiteError
from ..transfer.staging import Receiver, ReceiveRefused
from .base import RunContext, Task, TaskFailed, TaskInterrupted, TaskParams
from .verify import remove_stale_temps


class ReceiveCloneTask(Task):
    type = "receive_clone"

    class Params(TaskParams):
        deletion_policy: str = DISALLOWED  # DISALLOWED | ALLOWED, stored on each new copy
        files_per_run: int | None = Field(default=None, ge=1)

        @field_validator("deletion_policy")
        @classmethod
        def _policy(cls, value: str) -> str:
            try:
                return deletion_policy(value)
            except CatalogError as exc:
                raise ValueError(str(exc)) from None

    def run(self, ctx: RunContext) -> None:
        params: ReceiveCloneTask.Params = ctx.params
        done: dict[str, list[Confirmation]] = defaultdict(list)
        failed: list[str] = []
        full: str | None = None
        with SiteRun(ctx) as sites:
            receiver = Receiver(sites.settings, ctx.catalog, ctx.stores)
            self._sweep_staging(ctx, sites.book, receiver)
            staged = sites.book.in_flight(INCOMING, (STAGED,), limit=params.files_per_run)
            ctx.progress(total=len(staged))
            for transfer in staged:
                if ctx.should_stop():
                    break
                try:
                    result = receiver.ingest(transfer, params.deletion_policy)
                except StoreFull as exc:
                    full = str(exc)
                    break
                except (ReceiveRefused, StoreError) as exc:
                    raise TaskFailed(str(exc)) from None
                done[transfer.site].append(result.confirmation)
                if result.ok:
                    ctx.progress(items=1, bytes=transfer.size or 0)
                else:
                    failed.append(f"{transfer.name}: {result.confirmation.error}")
            self._call_back(ctx, sites, done)
        ctx.event(
            "received",
            ingested=sum(len(c) for c in done.values()) - len(failed),
            failed=len(failed),
        )
        if full is not None:
            raise TaskFailed(f"the store is full, the rest stay staged: {full}")
        if failed:
            raise TaskFailed(
                f"{len(failed)} staged files failed verification: {'; '.join(failed[:3])}"
            )
        if ctx.should_stop() and sum(len(c) for c in done.values()) < len(staged):
            raise TaskInterrupted("stopped before every staged file was ingested")

    @staticmethod
    def _sweep_staging(ctx: RunContext, book: TransferBook, receiver: Receiver) -> None:
        """Remove what uploads cut off by a kill left in staging: temporary files unwritten
        for ``STALE_TEMP_AGE`` beside incoming transfers' files, each named in an event (an
        upload that fails while this site lives on removes its own at once). A transfer
        finished longer ago than that can have nothing newer there: once swept, its
        directory is not looked at again."""
        leftovers = book.staging_leftovers()
        if not leftovers:
            return
        done_before = ctx.now() - timedelta(seconds=STALE_TEMP_AGE)
        try:
            staging = receiver.staging()
            remove_stale_temps(ctx, staging, [t.staging_path or "" for t in leftovers])
        except (ReceiveRefused, StoreError, OSError) as exc:  # ingesting matters more
            ctx.event("staging not swept", error=exc)
            return
        book.forget_staging(
            [
                t.id
                for t in leftovers
                if t.state in FINAL and t.finished_at is not None and t.finished_at < done_before
            ]
        )

    @staticmethod
    def _call_back(ctx: RunContext, sites: SiteRun, done: dict[str, list[Confirmation]]) -> None:
        """Tell each source how its files ended. Best effort: a source that does not hear
        asks (check_consumed_queue), so a lost callback delays nothing for long."""
        for site, confirmations in done.items():
            if not sites.knows(site) or not sites.settings.site:
                ctx.event("no callback", site=site, reason="not under sites:, or no site: name")
                continue
            try:
                sites.client(site).confirm(sites.me, confirmations)
            except (SiteError, TaskFailed) as exc:
                ctx.event("callback failed", site=site, error=exc)
