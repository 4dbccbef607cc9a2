"""The parent run of a fanned-out task: plans its shards, works on them as any worker does,
and ends when the last shard does, with the shards' sums as its counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine

from ..db import reading
from ..tasks.base import NeedsAttention, Task, TaskFailed, TaskInterrupted
from . import shards
from .context import EngineRunContext

# How stale the parent's counts may get while shards keep being claimed. Reading the shards'
# sums after every shard took 4-7 ms a shard, where 512 tiny files take about 130 ms to check
# (bench/fanout.py); they are read anyway whenever no shard was free, which is also how the
# last shard's end is seen.
COUNTS_EVERY = timedelta(seconds=1)


def coordinate(
    engine: Engine,
    task: Task,
    ctx: EngineRunContext,
    size: int,
    work_shard: Callable[[int], bool],
    poll: timedelta,
) -> None:
    """Run ``ctx``'s run as shards; raise as a task would, so the run ends the same way.

    ``work_shard(run_id)`` claims one shard of the run and does it (False when none was
    free). A run claimed again after its worker died keeps the shards planned the first time.
    """
    since = ctx.queued_at
    with reading(engine) as connection:
        planned = shards.has_shards(connection, ctx.run_id)
    if not planned:
        bounds = list(task.plan_shards(ctx, size, since))
        # Only this run's holder plans it, and its lease is held while it does, so no other
        # worker can be planning the same run (the unique shard numbers would refuse it).
        with engine.begin() as connection:
            shards.plan(connection, ctx.run_id, bounds)
        ctx.event("fanned out", shards=len(bounds), shard=size)
    counted_at = None
    while True:
        if ctx.lost.is_set():
            raise TaskInterrupted("the run's lease was lost")
        if ctx.cancelled.is_set() or ctx.soft_timeout_passed():
            # Stop handing out shards; those being worked on stop at their own check.
            why = "cancelled" if ctx.cancelled.is_set() else "soft timeout"
            with engine.begin() as connection:
                shards.stop_handing_out(connection, ctx.run_id, ctx.now(), why)
        elif ctx.should_stop():  # this worker is shutting down: another one carries on
            raise TaskInterrupted("the worker is stopping")
        worked = work_shard(ctx.run_id)
        if worked and counted_at is not None and ctx.now() < counted_at + COUNTS_EVERY:
            continue
        counted_at = ctx.now()
        with reading(engine) as connection:
            now = shards.totals(connection, ctx.run_id)
        ctx.set_counts(now.items, now.bytes, total=None)
        if now.unfinished == 0:
            break
        if not worked:
            ctx.wait(poll)
    _end(now)


def _end(totals: shards.ShardTotals) -> None:
    """Raise what the shards' ends make of the run: failed if any failed (needing a person
    if any found damage), stopped if any was skipped or timed out, else nothing."""
    if totals.failed:
        kind = NeedsAttention if totals.sticky else TaskFailed
        raise kind(f"{totals.failed} of {totals.shards} shards failed; first: {totals.first_error}")
    if totals.skipped or totals.timed_out:
        left = totals.skipped + totals.timed_out
        raise TaskInterrupted(f"{left} of {totals.shards} shards were not finished")
