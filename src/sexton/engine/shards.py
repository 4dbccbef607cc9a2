"""Shards of a fanned-out run (``fan_out``): planned once, claimed by lease, summed up.

A shard is claimed as a run is: its row is locked with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL (SQLite serialises writers with ``BEGIN IMMEDIATE``), moved to running with a
lease its worker renews, and claimed again by anyone once that lease has expired.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    func,
    insert,
    or_,
    select,
    update,
)

from ..db import commit_without_waiting
from ..db.tables import run_shards, runs
from ..tasks.base import ShardBounds
from .claims import in_state
from .states import CANCELLED, FAILED, QUEUED, RUNNING, SKIPPED, SUCCEEDED, TIMED_OUT

RUNS_PER_CLAIM = 8  # look past a few runs whose shards are all taken, in one query

SHARD_FINISHED = frozenset({SUCCEEDED, FAILED, TIMED_OUT, CANCELLED, SKIPPED})


@dataclass(frozen=True)
class Shard:
    """One claimed shard, with what its worker needs of the run it belongs to."""

    id: int
    run_id: int
    number: int
    bounds: ShardBounds
    task: str
    queued_at: datetime  # work recorded since then is the run's (``Task.run_shard``)
    started_at: datetime  # the run's timeouts count from here


@dataclass(frozen=True)
class ShardTotals:
    """Where a run's shards stand: the parent's counts are these sums."""

    shards: int
    unfinished: int
    failed: int
    sticky: int
    timed_out: int
    skipped: int
    items: int
    bytes: int
    first_error: str | None


def has_shards(connection: Connection, run_id: int) -> bool:
    found = connection.execute(
        select(run_shards.c.id).where(run_shards.c.run_id == run_id).limit(1)
    ).first()
    return found is not None


def plan(connection: Connection, run_id: int, bounds: Iterable[ShardBounds]) -> int:
    """Record a run's shards, numbered from 0; returns how many."""
    rows = [
        {
            "run_id": run_id,
            "number": number,
            "after_id": b.after_id,
            "upto_id": b.upto_id,
            "prefix": b.prefix,
            "state": QUEUED,
        }
        for number, b in enumerate(bounds)
    ]
    if rows:
        connection.execute(insert(run_shards), rows)
    return len(rows)


def _claimable(now: datetime) -> ColumnElement[bool]:
    """A shard nobody holds: queued, or running under a lease that expired (its worker died)."""
    return or_(
        run_shards.c.state == QUEUED,
        and_(run_shards.c.state == RUNNING, run_shards.c.lease_expires_at < now),
    )


def _has_free_shards(tasks: Iterable[str], now: datetime) -> ColumnElement[bool]:
    """Running runs of ``tasks`` with a shard nobody holds."""
    return and_(
        in_state(RUNNING),
        runs.c.task.in_(list(tasks)),
        select(run_shards.c.id).where(run_shards.c.run_id == runs.c.id, _claimable(now)).exists(),
    )


def any_free(connection: Connection, tasks: Iterable[str], now: datetime) -> bool:
    """Whether a running run of ``tasks`` has a shard to claim: read first, so an idle
    worker's poll takes no write lock (SQLite has one for the whole database)."""
    query = select(runs.c.id).where(_has_free_shards(tasks, now)).limit(1)
    return connection.execute(query).first() is not None


def _lease_recovers(connection: Connection) -> None:
    """Commit the transaction without waiting for PostgreSQL to flush it to disk: a claim or
    a shard's end lost to a crash of the server is recovered as a dead worker's shard is, by
    its lease (the work itself is recorded in transactions that do wait). Waiting took about
    4 ms a commit, two commits a shard, on the machine bench/fanout.py ran on."""
    commit_without_waiting(connection)


def claim_shard(
    connection: Connection,
    caps: Mapping[str, int],
    worker: str,
    now: datetime,
    lease_until: datetime,
    run_id: int | None = None,
) -> Shard | None:
    """Claim a free shard of a running run of the tasks in ``caps`` (task -> ``workers``), or
    of run ``run_id`` only; None when there is none, or each run has its ``workers`` busy.

    The parent run's row is locked first (``FOR UPDATE``): claims on one run then happen one
    at a time, so two workers cannot both count ``workers - 1`` busy shards and both start
    one (the cap would be exceeded). They wait for each other rather than skip the run: a
    claim holds the lock for a few milliseconds, and skipping made three of four claimers
    find nothing and sleep a poll (45 shards/s against 76 with four processes, bench/fanout.py).
    The busy shards are counted by a statement of their own, after the lock is held: one
    evaluated with the lock's (a subquery) would read what its snapshot saw before waiting.
    The shard row is locked with ``SKIP LOCKED``, so a claim never waits for a worker
    recording its shard's end. The transaction commits without waiting for the disk (see
    ``_lease_recovers``).
    """
    _lease_recovers(connection)
    claimable = _claimable(now)
    candidates = select(runs.c.id, runs.c.task, runs.c.queued_at, runs.c.started_at).where(
        _has_free_shards(caps, now)
    )
    if run_id is not None:
        candidates = candidates.where(runs.c.id == run_id)
    candidates = candidates.order_by(runs.c.id).limit(RUNS_PER_CLAIM).with_for_update(of=runs)
    for candidate in connection.execute(candidates).all():
        busy = connection.execute(
            select(func.count()).where(
                run_shards.c.run_id == candidate.id,
                run_shards.c.state == RUNNING,
                run_shards.c.lease_expires_at >= now,
            )
        ).scalar_one()
        if busy >= caps.get(candidate.task, 1):
            continue
        first_free = (
            select(run_shards.c.id)
            .where(run_shards.c.run_id == candidate.id, claimable)
            .order_by(run_shards.c.number)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        row = connection.execute(
            update(run_shards)
            .where(run_shards.c.id == first_free)
            .values(
                state=RUNNING,
                worker=worker,
                lease_expires_at=lease_until,
                started_at=now,
                attempt=run_shards.c.attempt + 1,
                items=0,
                bytes=0,
            )
            .returning(
                run_shards.c.id,
                run_shards.c.number,
                run_shards.c.after_id,
                run_shards.c.upto_id,
                run_shards.c.prefix,
            )
        ).first()
        if row is None:
            continue
        bounds = ShardBounds(after_id=row.after_id, upto_id=row.upto_id, prefix=row.prefix)
        return Shard(
            row.id,
            candidate.id,
            row.number,
            bounds,
            candidate.task,
            candidate.queued_at,
            candidate.started_at,
        )
    return None


def _held(shard_id: int, worker: str) -> ColumnElement[bool]:
    """The shard, if this worker still holds it (nobody took it over after its lease)."""
    return and_(
        run_shards.c.id == shard_id, run_shards.c.worker == worker, run_shards.c.state == RUNNING
    )


def renew_shard_leases(
    connection: Connection,
    worker: str,
    counts: Mapping[int, tuple[int, int]],
    until: datetime,
) -> dict[int, bool]:
    """Extend the leases of the shards this worker holds and publish their counts (shard id
    -> items, bytes); returns each still-held shard's parent cancel flag. A shard missing
    from the result was claimed by another worker after its lease expired: stop it."""
    held: dict[int, bool] = {}
    for shard_id, (items, bytes_) in counts.items():
        row = connection.execute(
            update(run_shards)
            .where(_held(shard_id, worker))
            .values(lease_expires_at=until, items=items, bytes=bytes_)
            .returning(run_shards.c.run_id)
        ).first()
        if row is not None:
            cancel = connection.execute(
                select(runs.c.cancel_requested).where(runs.c.id == row.run_id)
            ).scalar_one()
            held[shard_id] = bool(cancel)
    return held


def end_shard(
    connection: Connection,
    shard_id: int,
    worker: str,
    state: str,
    now: datetime,
    *,
    items: int,
    bytes: int,
    error: str | None = None,
    sticky: bool = False,
) -> bool:
    """Record how this worker's claim of a shard ended (``queued``: handed back unfinished);
    False if the shard had been claimed by another worker meanwhile.

    A failure is committed as usual; any other end without waiting for the disk (see
    ``_lease_recovers``). A lost failure would not be found again: the shard done again
    would not meet the damage (that copy is no longer present), and the run would succeed.
    """
    if state != FAILED:
        _lease_recovers(connection)
    done = state in SHARD_FINISHED
    result = connection.execute(
        update(run_shards)
        .where(_held(shard_id, worker))
        .values(
            state=state,
            items=items,
            bytes=bytes,
            error=error,
            sticky=sticky,
            finished_at=now if done else None,
            worker=worker if done else None,
            lease_expires_at=None,
        )
    )
    return result.rowcount == 1


def stop_handing_out(connection: Connection, run_id: int, now: datetime, why: str) -> int:
    """Skip every shard of the run nobody works on (soft timeout, cancel); returns how many."""
    result = connection.execute(
        update(run_shards)
        .where(run_shards.c.run_id == run_id, _claimable(now))
        .values(state=SKIPPED, error=why, finished_at=now, lease_expires_at=None)
    )
    return int(result.rowcount)


def totals(connection: Connection, run_id: int) -> ShardTotals:
    def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = connection.execute(
        select(
            func.count(),
            count(run_shards.c.state.in_([QUEUED, RUNNING])),
            count(run_shards.c.state == FAILED),
            count(run_shards.c.sticky),
            count(run_shards.c.state == TIMED_OUT),
            count(run_shards.c.state == SKIPPED),
            func.coalesce(func.sum(run_shards.c["items"]), 0),
            func.coalesce(func.sum(run_shards.c.bytes), 0),
        ).where(run_shards.c.run_id == run_id)
    ).one()
    first_error = connection.execute(
        select(run_shards.c.error)
        .where(run_shards.c.run_id == run_id, run_shards.c.state == FAILED)
        .order_by(run_shards.c.number)
        .limit(1)
    ).scalar_one_or_none()
    shards, unfinished, failed, sticky, timed_out, skipped, items, bytes_ = (int(v) for v in row)
    return ShardTotals(
        shards, unfinished, failed, sticky, timed_out, skipped, items, bytes_, first_error
    )
