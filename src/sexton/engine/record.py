"""The run record: creating runs and moving them between states, in one place.

Every state change is one conditional ``UPDATE`` (it only happens if the run is still in a
state it may leave) plus one event row, and, when a run finishes, the task's summary row.
On PostgreSQL the update and the event row are one statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Float,
    Integer,
    Select,
    String,
    Text,
    Update,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    null,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ..db.tables import run_events, runs, status_changes, task_state
from ..db.types import UTCDateTime
from .states import ALLOWED, FINISHED, QUEUED, RUNNING, SUCCEEDED, UNSUCCESSFUL


@dataclass(frozen=True)
class Run:
    id: int
    task: str
    slot: datetime | None
    reason: str
    state: str
    attempt: int
    retry_of: int | None
    executor: str
    concurrency: int
    lane: int | None
    queued_at: datetime
    not_before: datetime
    started_at: datetime | None
    finished_at: datetime | None
    lease_expires_at: datetime | None
    worker: str | None
    items: int
    bytes: int
    error: str | None
    exit_code: int | None
    note: str | None
    log_tail: str | None
    cancel_requested: bool

    @classmethod
    def from_row(cls, row: Any) -> Run:
        mapping = row._mapping
        return cls(**{f.name: mapping[f.name] for f in fields(cls)})

    def to_json(self) -> dict[str, Any]:
        """The stable shape of `sexton runs --json` and the API (DESIGN §4)."""
        return {
            "id": self.id,
            "task": self.task,
            "slot": iso(self.slot),
            "reason": self.reason,
            "state": self.state,
            "attempt": self.attempt,
            "queued_at": iso(self.queued_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "worker": self.worker,
            "items": self.items,
            "bytes": self.bytes,
            "error": self.error,
            "not_before": iso(self.not_before),
            "exit_code": self.exit_code,
            "note": self.note,
        }


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


class InvalidTransition(RuntimeError):
    pass


def insert_ignoring_conflict(connection: Connection, table: Any, values: dict[str, Any]) -> bool:
    """``INSERT ... ON CONFLICT DO NOTHING``; True when the row was inserted.

    This is what makes any number of schedulers safe: the second insert of a slot's run
    finds the unique ``(task, slot)`` row and does nothing.
    """
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
    return bool(connection.execute(statement).rowcount)


def create_run(
    connection: Connection,
    *,
    task: str,
    reason: str,
    now: datetime,
    executor: str,
    concurrency: int = 1,
    state: str = QUEUED,
    slot: datetime | None = None,
    not_before: datetime | None = None,
    attempt: int = 1,
    retry_of: int | None = None,
    ignore_existing_slot: bool = False,
    **extra: Any,
) -> int | None:
    """Insert a run and its first event; the new id, or None if the slot already had a run."""
    values = {
        "task": task,
        "slot": slot,
        "reason": reason,
        "state": state,
        "attempt": attempt,
        "retry_of": retry_of,
        "executor": executor,
        "concurrency": concurrency,
        "queued_at": now,
        "not_before": not_before or now,
        **extra,
    }
    if ignore_existing_slot:
        if not insert_ignoring_conflict(connection, runs, values):
            return None
        run_id = connection.execute(
            select(runs.c.id).where(runs.c.task == task, runs.c.slot == slot)
        ).scalar_one()
    else:
        run_id = connection.execute(insert(runs).values(**values).returning(runs.c.id)).scalar_one()
    message = f"{reason} run queued" if state == QUEUED else f"{reason} run {state}"
    connection.execute(
        insert(run_events).values(
            run_id=run_id, task=task, at=now, from_state=None, to_state=state, message=message
        )
    )
    return int(run_id)


@cache
def _move_statement(
    columns: tuple[str, ...], held_by: bool, lease_expired: bool, postgres: bool, finishes: bool
) -> Update | Select[Any]:
    """The state-change statement for one set of changed columns, built once.

    A statement rebuilt with inline values on every call spends more time in SQLAlchemy than
    in the database; with bound parameters it is compiled once and reused. On PostgreSQL the
    event row, and for a finishing run the summary row, are written by the same statement
    (data-changing CTEs): one round trip, not three, on every finish.
    """
    condition = (runs.c.id == bindparam("_id")) & (runs.c.state == bindparam("_source"))
    if held_by:
        condition &= runs.c.worker == bindparam("_worker")
    if lease_expired:
        condition &= runs.c.lease_expires_at < bindparam("_now", type_=UTCDateTime())
    changes = {name: bindparam(name, type_=runs.c[name].type) for name in columns}
    moved = update(runs).where(condition).values(changes).returning(*runs.c)
    if not postgres:
        return moved
    moved_rows = moved.cte("moved")
    event = insert(run_events).from_select(
        ["run_id", "task", "at", "from_state", "to_state", "message"],
        select(
            moved_rows.c.id,
            moved_rows.c.task,
            bindparam("_now", type_=UTCDateTime()),
            bindparam("_source", type_=String()),
            moved_rows.c.state,
            bindparam("_message", type_=Text()),
        ),
    )
    statement = select(moved_rows).add_cte(event.cte("event"))
    if finishes:
        summary = _summary(
            _FinishedRun(
                id=moved_rows.c.id,
                task=moved_rows.c.task,
                state=moved_rows.c.state,
                started_at=moved_rows.c.started_at,
                finished_at=moved_rows.c.finished_at,
                duration=func.extract("epoch", moved_rows.c.finished_at - moved_rows.c.started_at),
                items=moved_rows.c["items"],
                bytes=moved_rows.c.bytes,
            )
        )
        statement = statement.add_cte(summary.cte("summary"))
    return statement


def transition(
    connection: Connection,
    run_id: int,
    source: str,
    target: str,
    now: datetime,
    message: str | None = None,
    *,
    held_by: str | None = None,
    lease_expired: bool = False,
    **values: Any,
) -> Run | None:
    """Move run ``run_id`` from ``source`` to ``target``; the updated run, or None if it was
    no longer in ``source`` (someone else moved it first — the race this closes).

    ``held_by`` (the run is still held by this worker) and ``lease_expired`` (its lease ran
    out before ``now``) add their condition to the same atomic update.
    """
    if target not in ALLOWED.get(source, ()):
        raise InvalidTransition(f"a run cannot move from {source} to {target}")
    if target in FINISHED:
        values.setdefault("finished_at", now)
    if target != RUNNING:
        values.setdefault("lane", None)
        values.setdefault("lease_expires_at", None)
    values["state"] = target
    postgres = connection.dialect.name == "postgresql"
    statement = _move_statement(
        tuple(sorted(values)), held_by is not None, lease_expired, postgres, target in FINISHED
    )
    parameters = {
        **values,
        "_id": run_id,
        "_source": source,
        "_worker": held_by,
        "_now": now,
        "_message": message,
    }
    result = connection.execute(statement, parameters).one_or_none()
    if result is None:
        return None
    run = Run.from_row(result)
    if not postgres:
        connection.execute(
            NEW_EVENT,
            {
                "run_id": run_id,
                "task": run.task,
                "at": now,
                "from_state": source,
                "to_state": target,
                "message": message,
            },
        )
        if target in FINISHED:
            _summarise(connection, run)
    return run


NEW_EVENT = insert(run_events)


@dataclass(frozen=True)
class _FinishedRun:
    """Where the summary update reads a finished run from: bound parameters (SQLite, a
    statement after the run's own update) or the columns the update returned (PostgreSQL,
    part of the same statement)."""

    id: Any
    task: Any
    state: Any
    started_at: Any
    finished_at: Any
    duration: Any
    items: Any
    bytes: Any


def _summary(run: _FinishedRun) -> Update:
    """The task's summary row after a finished run; `failures` counts unsuccessful runs in a
    row, and the running totals behind the Prometheus counters count each finished run
    exactly once, so pruning history never lowers them."""
    return (
        update(task_state)
        .where(task_state.c.task == run.task)
        .values(
            last_run_id=run.id,
            last_started_at=run.started_at,
            last_finished_at=run.finished_at,
            last_outcome=run.state,
            last_duration=run.duration,
            last_success_at=case(
                (run.state == SUCCEEDED, run.finished_at), else_=task_state.c.last_success_at
            ),
            failures=case(
                (run.state == SUCCEEDED, 0),
                (run.state.in_(sorted(UNSUCCESSFUL)), task_state.c.failures + 1),
                else_=task_state.c.failures,
            ),
            idle_since=case(
                (and_(run.state == SUCCEEDED, run.items > 0), null()),
                (run.state == SUCCEEDED, func.coalesce(task_state.c.idle_since, run.finished_at)),
                else_=task_state.c.idle_since,
            ),
            items_done=task_state.c.items_done + run.items,
            bytes_done=task_state.c.bytes_done + run.bytes,
            **{
                f"runs_{outcome}": task_state.c[f"runs_{outcome}"]
                + case((run.state == outcome, 1), else_=0)
                for outcome in sorted(FINISHED)
            },
        )
    )


SUMMARY = _summary(
    _FinishedRun(
        id=bindparam("_id", type_=Integer()),
        task=bindparam("_task", type_=String()),
        state=bindparam("_state", type_=String()),
        started_at=bindparam("_started_at", type_=UTCDateTime()),
        finished_at=bindparam("_finished_at", type_=UTCDateTime()),
        duration=bindparam("_duration", type_=Float()),
        items=bindparam("_items", type_=BigInteger()),
        bytes=bindparam("_bytes", type_=BigInteger()),
    )
)


def _summarise(connection: Connection, run: Run) -> None:
    """Keep the task's summary row (what `sexton status` reads) in step with its finished
    runs. Only finishing writes it: claims stay off this one hot row per task, so workers
    starting runs of the same task do not queue behind each other's commits."""
    duration = None
    if run.started_at and run.finished_at:
        duration = (run.finished_at - run.started_at).total_seconds()
    connection.execute(
        SUMMARY,
        {
            "_id": run.id,
            "_task": run.task,
            "_state": run.state,
            "_started_at": run.started_at,
            "_finished_at": run.finished_at,
            "_duration": duration,
            "_items": run.items,
            "_bytes": run.bytes,
        },
    )


def ensure_task_rows(engine: Engine, names: Iterable[str], now: datetime) -> None:
    """A summary row per configured task, created the first time the task is seen."""
    with engine.begin() as connection:
        for name in names:
            insert_ignoring_conflict(
                connection, task_state, {"task": name, "first_seen_at": now, "status": "new"}
            )


def get_run(connection: Connection, run_id: int) -> Run | None:
    row = connection.execute(select(runs).where(runs.c.id == run_id)).one_or_none()
    return Run.from_row(row) if row else None


def list_runs(
    connection: Connection,
    task: str | None = None,
    state: str | None = None,
    limit: int = 50,
) -> list[Run]:
    """Newest first."""
    query = select(runs).order_by(runs.c.id.desc()).limit(limit)
    if task is not None:
        query = query.where(runs.c.task == task)
    if state is not None:
        query = query.where(runs.c.state == state)
    return [Run.from_row(row) for row in connection.execute(query)]


def run_events_of(connection: Connection, run_id: int) -> Sequence[Any]:
    return connection.execute(
        select(run_events).where(run_events.c.run_id == run_id).order_by(run_events.c.id)
    ).all()


def prune_history(engine: Engine, before: datetime) -> int:
    """Forget finished runs (and their events) and status flips older than ``before``.
    The running totals on ``task_state`` stay, so the exported counters never go down."""
    with engine.begin() as connection:
        removed = delete_finished_runs(connection, runs.c.finished_at < before)
        connection.execute(delete(status_changes).where(status_changes.c.at < before))
    return removed


def delete_finished_runs(connection: Connection, condition: Any) -> int:
    """Delete finished runs matching ``condition``, with their events; queued and running
    runs are never touched. Returns how many runs went."""
    chosen = runs.c.state.in_(FINISHED) & condition
    connection.execute(
        delete(run_events).where(run_events.c.run_id.in_(select(runs.c.id).where(chosen)))
    )
    return int(connection.execute(delete(runs).where(chosen)).rowcount)


def count_running(connection: Connection, task: str) -> int:
    return int(
        connection.execute(
            select(func.count())
            .select_from(runs)
            .where(runs.c.task == task, runs.c.state == RUNNING)
        ).scalar_one()
    )
