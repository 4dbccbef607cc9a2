"""Claiming queued runs, holding them by lease, and finding runs whose worker died.

The database decides who runs what: claims lock candidate rows with ``FOR UPDATE SKIP LOCKED``
on PostgreSQL (SQLite serialises writers with ``BEGIN IMMEDIATE``), and a running run holds
one of its task's lanes, which a partial unique index keeps to one run per lane.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum, auto
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Text,
    bindparam,
    exists,
    func,
    insert,
    literal_column,
    select,
    update,
)

from ..db.tables import run_events, runs, task_state
from ..db.types import UTCDateTime
from .record import Run, transition
from .states import ABANDONED, QUEUED, RUNNING, SKIPPED

CANDIDATES_PER_CLAIM = 8  # look past a few blocked runs (waiting on a partner) in one query


@dataclass(frozen=True)
class ClaimRules:
    """What a claim must respect for one task: its prerequisites and its partners."""

    requires: tuple[str, ...] = ()
    exclusive_with: tuple[str, ...] = ()
    skip_on_conflict: bool = False
    concurrency: int = 1

    @property
    def read_elsewhere(self) -> bool:
        """Whether a claim must first read the state of other tasks."""
        return bool(self.requires or self.exclusive_with)


@dataclass(frozen=True)
class ClaimRequest:
    """A worker asking for a run: what either way of claiming needs."""

    tasks: Collection[str]
    executor: str
    worker: str
    now: datetime
    lease: timedelta
    rules: Mapping[str, ClaimRules]

    def rules_of(self, task: str) -> ClaimRules:
        return self.rules.get(task, ClaimRules())


@dataclass(frozen=True)
class Refusal:
    """Why a run cannot start now, and whether that skips it for good."""

    reason: str
    skip: bool


def in_state(state: str) -> ColumnElement[bool]:
    """``runs.state = '<state>'`` with the state written literally, not as a parameter: a
    prepared statement's generic plan on PostgreSQL can then use the partial indexes that
    are defined on one state (a parameter hides which of them applies)."""
    return runs.c.state == literal_column(f"'{state}'")


# The lanes held by running runs of the given tasks (reads the running-lane index).
RUNNING_LANES = select(runs.c.task, runs.c.lane).where(
    in_state(RUNNING), runs.c.task.in_(bindparam("tasks", expanding=True))
)


def lanes_taken(connection: Connection, tasks: Collection[str]) -> dict[str, set[int]]:
    taken: dict[str, set[int]] = {task: set() for task in tasks}
    for task, lane in connection.execute(RUNNING_LANES, {"tasks": list(tasks)}):
        taken[task].add(lane)
    return taken


def free_lane(taken: set[int], concurrency: int) -> int | None:
    """A lane not in ``taken``, or None. Chosen at random: workers claiming at the same
    moment then rarely pick the same lane and lose the race on its index."""
    free = [lane for lane in range(concurrency) if lane not in taken]
    return random.choice(free) if free else None


def _candidates(task_filter: ColumnElement[bool]) -> Select[tuple[int, str, int]]:
    """Due queued runs of the given tasks, oldest first (reads the queued-runs index). Two
    workers never lock the same candidate, and neither waits for the other."""
    return (
        select(runs.c.id, runs.c.task, runs.c.concurrency)
        .where(
            in_state(QUEUED),
            runs.c.executor == bindparam("executor"),
            runs.c.not_before <= bindparam("now"),
            task_filter,
        )
        .order_by(runs.c.not_before, runs.c.id)
        .limit(CANDIDATES_PER_CLAIM)
        .with_for_update(skip_locked=True, of=runs)
    )


_OF_TASKS = runs.c.task.in_(bindparam("tasks", expanding=True))
CANDIDATES = _candidates(_OF_TASKS)
# SQLite has no statistics, so it guesses that the task filter is the selective one and reads
# every run of the task, finished ones too, by the task index, then sorts them: claims slow
# down as history and backlog grow. ``likely()`` tells it the filter keeps most rows, so it
# walks the queued-runs index in order instead.
CANDIDATES_SQLITE = _candidates(func.likely(_OF_TASKS))


def claim_next(connection: Connection, request: ClaimRequest) -> Run | None:
    """Claim the oldest due queued run of the request's tasks this worker may start, or None."""
    taken = lanes_taken(connection, request.tasks)
    # Tasks whose every lane is taken are left out, so their waiting runs cannot hide the
    # runs of other tasks behind them.
    free = [t for t in request.tasks if len(taken[t]) < request.rules_of(t).concurrency]
    if not free:
        return None
    query = CANDIDATES_SQLITE if connection.dialect.name == "sqlite" else CANDIDATES
    parameters = {"executor": request.executor, "now": request.now, "tasks": free}
    for candidate in connection.execute(query, parameters).all():
        lane = free_lane(taken[candidate.task], candidate.concurrency)
        if lane is None:
            continue
        run = start(
            connection,
            candidate.id,
            candidate.task,
            lane,
            request.worker,
            request.now,
            request.lease,
            request.rules_of(candidate.task),
        )
        if run is not None:
            return run
    return None


def _one_statement_claim() -> Select[Any]:
    """PostgreSQL's claim as one statement, for an autocommit connection: one round trip where
    a claim in a transaction takes five (begin, lanes, candidates, update, commit).

    It locks the oldest due queued run of a task with a lane free, and if that task has no
    rules to check in Python (``plain``), moves it to running in a free lane chosen at random,
    with its event. It returns one row for the run it locked, with the moved run's columns
    filled in, or NULL when the run was left for :func:`claim_next` (a rule to check, or no
    lane after all); no row when nothing is due. A lane taken by a simultaneous claim makes
    the unique index refuse the update with an IntegrityError, as in :func:`start`.
    """
    now = bindparam("_now", type_=UTCDateTime())
    busy = runs.alias("busy")
    running = busy.c.state == literal_column(f"'{RUNNING}'")
    # Computed once, not per queued run: with the statistics of a smaller queue (a burst
    # queued since the last ANALYZE) the planner sorts every due run, and a per-run count
    # made 10,000 queued runs drain at a tenth of the speed.
    every_lane_taken = (
        select(busy.c.task)
        .where(running, busy.c.task.in_(bindparam("tasks", expanding=True)))
        .group_by(busy.c.task)
        .having(func.count() >= func.max(busy.c.concurrency))
    )
    candidate = (
        select(runs.c.id, runs.c.task, runs.c.concurrency)
        .where(
            in_state(QUEUED),
            runs.c.executor == bindparam("_executor"),
            runs.c.not_before <= now,
            _OF_TASKS,
            runs.c.task.not_in(every_lane_taken),
        )
        .order_by(runs.c.not_before, runs.c.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=runs)
        .cte("candidate")
    )
    lanes = (
        func.generate_series(0, candidate.c.concurrency - 1).table_valued("lane").render_derived()
    )
    taken = exists().where(running, busy.c.task == candidate.c.task, busy.c.lane == lanes.c.lane)
    free = (
        select(lanes.c.lane)
        .where(~taken.correlate_except(busy))
        .order_by(func.random())
        .limit(1)
        .scalar_subquery()
    )
    chosen = (
        select(candidate.c.id, free.label("lane"))
        .where(candidate.c.task.in_(bindparam("plain", expanding=True)))
        .cte("chosen")
    )
    moved = (
        update(runs)
        .where(runs.c.id == chosen.c.id, chosen.c.lane.is_not(None), in_state(QUEUED))
        .values(
            state=RUNNING,
            lane=chosen.c.lane,
            worker=bindparam("_worker"),
            started_at=now,
            lease_expires_at=bindparam("_lease_until", type_=UTCDateTime()),
        )
        .returning(*runs.c)
        .cte("moved")
    )
    event = insert(run_events).from_select(
        ["run_id", "task", "at", "from_state", "to_state", "message"],
        select(
            moved.c.id,
            moved.c.task,
            now,
            literal_column(f"'{QUEUED}'"),
            moved.c.state,
            bindparam("_message", type_=Text()),
        ),
    )
    return (
        select(candidate.c.id.label("candidate"), *moved.c)
        .select_from(candidate.outerjoin(moved, moved.c.id == candidate.c.id))
        .add_cte(event.cte("event"))
    )


ONE_STATEMENT_CLAIM = _one_statement_claim()


class Undecided(Enum):
    """What :func:`claim_in_one_statement` returns when the run it found must be claimed by
    :func:`claim_next` instead."""

    UNDECIDED = auto()


UNDECIDED = Undecided.UNDECIDED


def claim_in_one_statement(
    connection: Connection, request: ClaimRequest
) -> Run | None | Literal[Undecided.UNDECIDED]:
    """Claim as :func:`claim_next` does, in one statement on an autocommit PostgreSQL
    connection: the claimed run, None when nothing is due, or ``UNDECIDED``."""
    plain = [task for task in request.tasks if not request.rules_of(task).read_elsewhere]
    row = connection.execute(
        ONE_STATEMENT_CLAIM,
        {
            "_executor": request.executor,
            "_now": request.now,
            "tasks": list(request.tasks),
            "plain": plain,
            "_worker": request.worker,
            "_lease_until": request.now + request.lease,
            "_message": f"started by {request.worker}",
        },
    ).one_or_none()
    if row is None:
        return None
    return UNDECIDED if row.id is None else Run.from_row(row)


def start(
    connection: Connection,
    run_id: int,
    task: str,
    lane: int,
    worker: str,
    now: datetime,
    lease: timedelta,
    rules: ClaimRules,
) -> Run | None:
    """Move one queued run to running in ``lane`` if its rules allow it now; None when they
    do not."""
    refusal = check_rules(connection, task, rules)
    if refusal is not None:
        if refusal.skip:
            transition(
                connection, run_id, QUEUED, SKIPPED, now, refusal.reason, error=refusal.reason
            )
        return None
    # On PostgreSQL another claim may take the lane between our look and our update: the
    # unique index then refuses ours with an IntegrityError, which ends this transaction
    # (callers retry the whole claim; see RunBook.claim). SQLite's writers are serialised,
    # so there the race cannot happen.
    return transition(
        connection,
        run_id,
        QUEUED,
        RUNNING,
        now,
        f"started by {worker}",
        lane=lane,
        worker=worker,
        started_at=now,
        lease_expires_at=now + lease,
    )


def check_rules(connection: Connection, task: str, rules: ClaimRules) -> Refusal | None:
    """``requires`` (each named task succeeded once) and ``exclusive_with`` (none running)."""
    if rules.requires:
        done = set(
            connection.execute(
                select(task_state.c.task).where(
                    task_state.c.task.in_(rules.requires), task_state.c.last_success_at.is_not(None)
                )
            ).scalars()
        )
        missing = [name for name in rules.requires if name not in done]
        if missing:
            names = ", ".join(missing)
            return Refusal(f"requires {names}, which has not succeeded yet", skip=True)
    if rules.exclusive_with:
        # Lock the summary rows of the task and its partners, always in name order, so two
        # claims of partner tasks serialise here and cannot both see "nobody is running".
        involved = sorted({task, *rules.exclusive_with})
        connection.execute(
            select(task_state.c.task)
            .where(task_state.c.task.in_(involved))
            .order_by(task_state.c.task)
            .with_for_update()
        ).all()
        busy = connection.execute(
            select(runs.c.task)
            .where(runs.c.task.in_(rules.exclusive_with), in_state(RUNNING))
            .limit(1)
        ).scalar_one_or_none()
        if busy is not None:
            return Refusal(
                f"{busy} is running and never overlaps this task", rules.skip_on_conflict
            )
    return None


def renew_leases(
    connection: Connection, worker: str, run_ids: Iterable[int], until: datetime
) -> dict[int, bool]:
    """Extend the leases this worker holds; returns each still-held run's cancel flag.

    A run missing from the result was taken from this worker (its lease had expired and it
    was abandoned): the worker must stop it.
    """
    ids = list(run_ids)
    if not ids:
        return {}
    rows = connection.execute(
        update(runs)
        .where(runs.c.id.in_(ids), runs.c.worker == worker, in_state(RUNNING))
        .values(lease_expires_at=until)
        .returning(runs.c.id, runs.c.cancel_requested)
    ).all()
    return {int(row.id): bool(row.cancel_requested) for row in rows}


def any_expired(connection: Connection, now: datetime) -> bool:
    found = connection.execute(
        select(runs.c.id).where(in_state(RUNNING), runs.c.lease_expires_at < now).limit(1)
    ).first()
    return found is not None


def expired_runs(connection: Connection, now: datetime) -> list[Run]:
    rows = connection.execute(
        select(runs)
        .where(in_state(RUNNING), runs.c.lease_expires_at < now)
        .with_for_update(skip_locked=True)
    ).all()
    return [Run.from_row(row) for row in rows]


def abandon(connection: Connection, run: Run, now: datetime) -> Run | None:
    """Mark a run whose lease ran out as abandoned, if nobody renewed it meanwhile."""
    return transition(
        connection,
        run.id,
        RUNNING,
        ABANDONED,
        now,
        f"lease of {run.worker} expired",
        lease_expired=True,
    )
