"""``drain``: empty a crawler's output disk into the archive, as the draintasker did.

Files are packed into series of up to ``max_size``; each series gets a MANIFEST of
checksums, is transferred, verified, tombstoned file by file, and only then deleted from the
source. ``sexton drain start | stop | finish TASK`` are the DRAINME and FINISH_DRAIN
switches; ``sexton drain status`` shows every series' step.

Transfer faults fail the run so that the task's retry policy applies; operators set, for
example, ``retries: {max: 3, backoff: 1m, defer: 1h}``: three quick retries, then one an
hour later and every hour after (the old RETRY-at-epoch file; the time is in the status).
A copy that does not match its manifest is a sticky error for that series until
``sexton clear TASK``; the other series keep draining meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol, cast

from pydantic import field_validator, model_validator
from sqlalchemy import Engine

from ..catalog import UnknownStore, Voucher
from ..config import Config
from ..config.models import Algorithm, Duration, StoreName
from ..drain.packing import DEFAULT_NAMING, check_naming, packed_files, series_name
from ..drain.records import ERROR, FINISHING, STOPPED, DrainBook
from ..drain.steps import Drainer, DrainPlan, SeriesError, VerifyMode, ready_to_pack
from ..sizes import SizeBytes
from ..stores import StoreError, safe_name
from .base import NeedsAttention, RunContext, Task, TaskFailed, TaskParams
from .planning import PlanContext, PlannedAction


class DrainContext(RunContext, Protocol):
    engine: Engine  # where the drain's series are recorded
    config: Config  # for the task's retry policy, shown as each series' retry time


class DrainTask(Task):
    type = "drain"
    plans = True

    class Params(TaskParams):
        source: StoreName
        prefix: str | None = None  # a directory under the source root; default: all of it
        destination: StoreName
        max_size: SizeBytes
        naming: str = DEFAULT_NAMING
        min_age: Duration | None = None  # files modified more recently are still being written
        verify: VerifyMode = "checksum"
        checksum: Algorithm | None = None  # default: the config's `checksum:`

        @field_validator("prefix")
        @classmethod
        def _safe_prefix(cls, value: str | None) -> str | None:
            return None if value is None else safe_name(value.rstrip("/"))

        @field_validator("naming")
        @classmethod
        def _naming(cls, value: str) -> str:
            return check_naming(value)

        @field_validator("max_size")
        @classmethod
        def _positive(cls, value: int) -> int:
            if value <= 0:
                raise ValueError("max_size must be more than 0 bytes")
            return value

        @model_validator(mode="after")
        def _two_stores(self) -> DrainTask.Params:
            if self.source == self.destination:
                raise ValueError("source and destination must be different stores")
            return self

    def run(self, ctx: RunContext) -> None:
        params: DrainTask.Params = ctx.params
        drain_ctx = cast(DrainContext, ctx)
        book = DrainBook(drain_ctx.engine)
        switch = book.switch(ctx.task_name)
        if switch == STOPPED:
            ctx.event("drain is stopped: nothing done (sexton drain start to resume)")
            return
        plan = _drain_plan(ctx, params)
        drainer = Drainer(plan, book, ctx, lambda: _retry_at(drain_ctx, book))
        for series in book.series_of(ctx.task_name, include_done=False):
            if series.state == ERROR and book.error_cleared(ctx.task_name, series):
                book.reset(series, ctx.now())
                ctx.event("series error cleared", series=series.name, resume=series.resume)
        drainer.pack(finishing=switch == FINISHING)
        for series in book.series_of(ctx.task_name, include_done=False):
            if series.state == ERROR:
                continue
            try:
                drainer.complete(series)
            except SeriesError as exc:
                book.record_error(series, str(exc), exc.resume, ctx.now())
                ctx.event("series error", series=series.name, error=str(exc))
        errors = book.claim_errors(ctx.task_name, ctx.run_id)
        if errors:
            shown = "; ".join(f"{s.name}: {s.error}" for s in errors[:3])
            raise NeedsAttention(f"{len(errors)} drain series in ERROR ({shown})")

    def plan(self, ctx: PlanContext) -> Iterator[PlannedAction]:
        """Every file of the unfinished series (but those in ERROR) and of the series
        packing would record now: copied unless already, then deleted from the source."""
        params: DrainTask.Params = ctx.params
        book = DrainBook(cast(DrainContext, ctx).engine)  # the plan's engine is read-only
        switch = book.switch(ctx.task_name)
        if switch == STOPPED:
            return
        plan = _drain_plan(ctx, params)
        source, destination = plan.source.name, plan.destination.name
        for series in book.series_of(ctx.task_name, include_done=False):
            if series.state == ERROR:
                continue
            why = f"drain series {series.name}, now at its {series.state} step"
            for f in book.files_of(series.id):
                if f.deleted_at is not None:
                    continue
                if f.copied_at is None:
                    yield PlannedAction("copy", destination, f.target, f.size, why)
                safe_by: tuple[Voucher, ...] = ()
                if f.tombstone is not None and f.checksum is not None:
                    safe_by = (Voucher(destination, str(f.checksum), f.copied_at),)
                yield PlannedAction(
                    "delete", source, f.path, f.size, f"{why}; once its copy is verified", safe_by
                )
        serial = book.next_serial(ctx.task_name)
        for offset, entries in enumerate(
            ready_to_pack(plan, book, ctx.now(), finishing=switch == FINISHING)
        ):
            name = series_name(plan.naming, ctx.task_name, ctx.now(), serial + offset)
            why = f"new drain series {name} (its name is the time it is packed)"
            for packed in packed_files(name, entries, plan.prefix):
                yield PlannedAction("copy", destination, packed.target, packed.size, why)
                yield PlannedAction(
                    "delete", source, packed.path, packed.size, f"{why}; once its copy is verified"
                )


def _drain_plan(ctx: PlanContext, params: DrainTask.Params) -> DrainPlan:
    """What the task drains from where to where."""
    try:
        source, destination = ctx.stores[params.source], ctx.stores[params.destination]
    except (UnknownStore, StoreError) as exc:
        raise TaskFailed(str(exc)) from None
    return DrainPlan(
        task=ctx.task_name,
        source=source,
        destination=destination,
        prefix=params.prefix,
        max_size=params.max_size,
        naming=params.naming,
        min_age=params.min_age,
        verify=params.verify,
        algorithm=params.checksum or ctx.catalog.checksum,
    )


def _retry_at(ctx: DrainContext, book: DrainBook) -> datetime | None:
    """When the engine will retry this run if it fails now, by the task's retry policy."""
    policy = ctx.config.tasks[ctx.task_name].settings.retries
    delay = policy.delay(book.run_attempt(ctx.run_id))
    return None if delay is None else ctx.now() + delay
