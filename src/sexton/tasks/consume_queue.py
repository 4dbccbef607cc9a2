"""``consume_queue``: move the bytes of queued batches to their destination sites.

By default each file is streamed to the destination's API with its checksum in a header,
hashed on the way out and again on the way in; with ``transport: store`` it is written
(hashed, to a temporary name) into a staging store both sites reach, and the destination is
told it is there. A batch whose site cannot be reached is retried with backoff, then failed,
and the destination told. A killed run leaves its item to a lapsing lease; the next run
resends only what had not arrived.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from ..catalog import UnknownStore
from ..checksums import Checksum
from ..config.models import Duration, OptionalStoreName
from ..stores import ChecksumMismatch, Store, StoreError
from ..transfer.queue import FAILED as ITEM_FAILED
from ..transfer.queue import QueueItem, TransferQueue
from ..transfer.records import FAILED, INITIATED, ONGOING, STAGED, Transfer
from ..transfer.runs import SiteRun
from ..transfer.sites import SiteClient, SiteError, SiteRefused, SiteUnreachable, SourceDamaged
from .base import NeedsAttention, RunContext, Task, TaskFailed, TaskInterrupted, TaskParams

# 422: the bytes arrived damaged (the network, not our copy): worth sending again.
RESEND_STATUSES = frozenset({422})
UPLOADS_AT_ONCE = 4  # files on the wire at a time, per batch
ARRIVALS_PER_RECORD = 32  # arrivals recorded (marked staged) in one statement


class ConsumeQueueTask(Task):
    type = "consume_queue"

    class Params(TaskParams):
        max_in_flight: int | None = Field(default=None, ge=1)  # files sent, not yet ingested
        transport: Literal["http", "store"] = "http"
        staging_store: OptionalStoreName = None  # `transport: store`: the shared store
        max_attempts: int = Field(default=5, ge=1)  # per batch, before it fails
        retry_backoff: Duration = timedelta(minutes=1)  # doubles per failed attempt
        lease: Duration = timedelta(minutes=10)  # renewed per file

        @model_validator(mode="after")
        def _staging(self) -> ConsumeQueueTask.Params:
            if (self.transport == "store") != (self.staging_store is not None):
                raise ValueError("staging_store goes with transport: store, and only with it")
            return self

    def run(self, ctx: RunContext) -> None:
        params: ConsumeQueueTask.Params = ctx.params
        queue = TransferQueue(ctx.catalog.engine, ctx.catalog.clock)
        problems: list[str] = []
        damaged: list[str] = []
        waiting: set[int] = set()
        with SiteRun(ctx) as sites:
            while not ctx.should_stop():
                item = queue.claim(params.lease, waiting)
                if item is None:
                    break
                todo = [
                    t
                    for t in sites.book.in_batch(item.batch)
                    if t.direction == "outgoing" and t.state in (INITIATED, ONGOING)
                ]
                if params.max_in_flight is not None:
                    flying = sites.book.count_in_flight(item.site, (ONGOING, STAGED), item.batch)
                    if flying and flying + len(todo) > params.max_in_flight:
                        queue.put_back(item, ctx.now(), f"waiting: {flying} in flight", retry=False)
                        waiting.add(item.id)
                        continue
                sender = _Sender(ctx, sites, item, queue, params)
                try:
                    sender.send(todo)
                except (SiteUnreachable, SiteRefused) as exc:
                    problems.append(f"batch {item.batch} to {item.site}: {exc}")
                    self._retry_or_fail(ctx, sites, queue, item, params, str(exc))
                    waiting.add(item.id)  # not again in this run, however short the backoff
                    continue
                except StoreError as exc:
                    raise TaskFailed(str(exc)) from None
                damaged += sender.damaged
                queue.finish(item)
        ctx.event("consumed", problems=len(problems), damaged=len(damaged))
        if damaged:
            raise NeedsAttention(f"our copies do not match the catalog: {', '.join(damaged[:5])}")
        if problems:
            raise TaskFailed("; ".join(problems[:3]))

    @staticmethod
    def _retry_or_fail(
        ctx: RunContext,
        sites: SiteRun,
        queue: TransferQueue,
        item: QueueItem,
        params: ConsumeQueueTask.Params,
        error: str,
    ) -> None:
        """Back off and try the batch again later, or, attempts spent, fail what is left of it
        and tell the destination to drop it (send_clone offers those files again)."""
        if item.attempts < params.max_attempts:
            delay = params.retry_backoff * (2 ** (item.attempts - 1))
            queue.put_back(item, ctx.now() + delay, error)
            return
        left = [t for t in sites.book.in_batch(item.batch) if t.state in (INITIATED, ONGOING)]
        sites.book.set_state([t.id for t in left], FAILED, error)
        queue.finish(item, ITEM_FAILED, error)
        try:
            sites.client(item.site).cancel(sites.me, [t.id for t in left], error)
        except SiteError as exc:  # the hypervisor settles it with the destination later
            ctx.event("could not cancel at the destination", site=item.site, error=exc)


class _Sender:
    """Sends one batch's remaining files."""

    def __init__(
        self,
        ctx: RunContext,
        sites: SiteRun,
        item: QueueItem,
        queue: TransferQueue,
        params: ConsumeQueueTask.Params,
    ) -> None:
        self.ctx = ctx
        self.sites = sites
        self.item = item
        self.queue = queue
        self.params = params
        self.client: SiteClient = sites.client(item.site)
        self.damaged: list[str] = []
        self.renewed = ctx.now()  # the claim took the lease

    def send(self, todo: list[Transfer]) -> None:
        self.sites.book.set_state([t.id for t in todo], ONGOING, only_from=(INITIATED, ONGOING))
        if self.params.transport == "store":
            self._place_all(todo)
        else:
            self._upload_all(todo)

    def _stopping(self) -> bool:
        """Between files: renew the lease when a quarter of it has passed; true if stopping."""
        now = self.ctx.now()
        if now >= self.renewed + self.params.lease / 4:
            self.queue.renew(self.item, self.params.lease)
            self.renewed = now
        return self.ctx.should_stop()

    def _interrupted(self) -> TaskInterrupted:
        self.queue.put_back(self.item, self.ctx.now(), "stopped", retry=False)
        return TaskInterrupted("stopped before the batch was sent; the next run resumes")

    def _place_all(self, todo: list[Transfer]) -> None:
        placed: list[Transfer] = []
        for transfer in todo:
            if self._stopping():
                self._place(placed)
                raise self._interrupted()
            if self._write_staged(self._source(transfer), transfer):
                placed.append(transfer)
        self._place(placed)

    def _upload_all(self, todo: list[Transfer]) -> None:
        """Up to ``UPLOADS_AT_ONCE`` files on the wire at a time, so one file's round trip,
        hashing and syncs at the destination overlap another's bytes. Outcomes are recorded
        here, in the run's thread; arrivals in groups (one that arrived but is not yet
        recorded is only sent again, and the destination keeps one copy)."""
        arrived: list[Transfer] = []
        uploads: dict[Future[None], Transfer] = {}
        with ThreadPoolExecutor(UPLOADS_AT_ONCE, thread_name_prefix="upload") as pool:
            try:
                for transfer in todo:
                    while len(uploads) >= UPLOADS_AT_ONCE:
                        self._settle(uploads, arrived)
                    if self._stopping():
                        while uploads:
                            self._settle(uploads, arrived)
                        raise self._interrupted()
                    upload = pool.submit(self._upload, self._source(transfer), transfer)
                    uploads[upload] = transfer
                while uploads:
                    self._settle(uploads, arrived)
            finally:
                for upload in uploads:
                    upload.cancel()
                self._arrived(arrived)

    def _settle(self, uploads: dict[Future[None], Transfer], arrived: list[Transfer]) -> None:
        """Wait for at least one upload to end and record how it ended."""
        done, _ = wait(uploads, return_when=FIRST_COMPLETED)
        again: SiteRefused | None = None
        for upload in done:
            transfer = uploads.pop(upload)
            try:
                upload.result()
            except SourceDamaged as exc:
                self._damaged(self._source(transfer), transfer, str(exc))
            except FileNotFoundError:
                self._damaged(self._source(transfer), transfer, "missing from our store")
            except SiteRefused as exc:
                if exc.status in RESEND_STATUSES:
                    again = exc
                else:
                    self.sites.book.set_state([transfer.id], FAILED, str(exc))
            else:
                arrived.append(transfer)
        if again is not None:
            raise again
        if len(arrived) >= ARRIVALS_PER_RECORD:
            self._arrived(arrived)
            arrived.clear()

    def _source(self, transfer: Transfer) -> Store:
        try:
            return self.ctx.stores[transfer.store or ""]
        except (UnknownStore, StoreError) as exc:
            raise TaskFailed(f"cannot read {transfer.name!r}: {exc}") from None

    def _upload(self, source: Store, transfer: Transfer) -> None:
        """One file's bytes to the destination (in an upload thread)."""
        assert transfer.remote_id and transfer.name and transfer.checksum
        assert transfer.size is not None
        self.client.upload(
            transfer.remote_id,
            lambda: source.open_read(transfer.name or ""),
            transfer.size,
            transfer.checksum,
        )

    def _write_staged(self, source: Store, transfer: Transfer) -> bool:
        assert self.params.staging_store and transfer.staging_path and transfer.checksum
        expected = Checksum.parse(transfer.checksum)
        try:
            staging = self.ctx.stores[self.params.staging_store]
            with source.open_read(transfer.name or "") as f:
                staging.write_from(
                    transfer.staging_path,
                    f,
                    [expected.algo],
                    expected,
                    size=transfer.size,
                    overwrite=True,
                )
        except ChecksumMismatch as exc:
            self._damaged(source, transfer, str(exc))
            return False
        except FileNotFoundError:
            self._damaged(source, transfer, "missing from our store")
            return False
        except UnknownStore as exc:
            raise TaskFailed(str(exc)) from None
        return True

    def _place(self, placed: list[Transfer]) -> None:
        if placed:
            self.client.placed(self.sites.me, [t.remote_id for t in placed if t.remote_id])
            self._arrived(placed)

    def _arrived(self, arrived: list[Transfer]) -> None:
        if not arrived:
            return
        self.sites.book.set_state([t.id for t in arrived], STAGED, only_from=(ONGOING,))
        self.ctx.progress(items=len(arrived), bytes=sum(t.size or 0 for t in arrived))

    def _damaged(self, source: Store, transfer: Transfer, why: str) -> None:
        """Our copy is not what the catalog says: not sent; a fixity check will mark it."""
        self.sites.book.set_state([transfer.id], FAILED, f"not sent: {why}")
        self.damaged.append(f"{source.name}:{transfer.name}")
        self.ctx.event("source copy does not match", store=source.name, path=transfer.name)
