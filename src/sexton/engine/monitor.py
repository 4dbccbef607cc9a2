"""The dead man's switch: each task's status, derived in one place from stored times.

``new`` never succeeded and not yet due; ``up`` succeeded and not yet due again; ``late`` due
time passed, still inside the grace time; ``down`` past grace, or failed ``after_failures``
times in a row, or holding a sticky error; ``running``; ``paused`` (disabled); ``idle``
up, but every success for longer than ``alert.idle_after`` processed nothing (items = 0).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update

from ..config import Config, TaskSpec
from ..db import reading
from ..db.tables import runs, status_changes, task_state
from .record import iso
from .states import QUEUED, RUNNING

MAX_DEFAULT_GRACE = timedelta(days=1)
STATUSES = ("new", "up", "late", "down", "running", "paused", "idle")


@dataclass(frozen=True)
class TaskStatus:
    task: str
    type: str
    executor: str
    status: str
    enabled: bool
    last_run: datetime | None
    last_run_id: int | None
    last_outcome: str | None
    last_success: datetime | None
    last_duration: float | None
    next_due: datetime | None
    failures: int
    error: str | None
    retry_at: datetime | None
    overdue_seconds: float
    idle_since: datetime | None

    def to_json(self) -> dict[str, Any]:
        """The stable shape of `sexton status --json` and the API (DESIGN §4)."""
        return {
            "task": self.task,
            "type": self.type,
            "executor": self.executor,
            "status": self.status,
            "enabled": self.enabled,
            "last_run": iso(self.last_run),
            "last_success": iso(self.last_success),
            "next_due": iso(self.next_due),
            "failures": self.failures,
            "error": self.error,
            "last_run_id": self.last_run_id,
            "last_outcome": self.last_outcome,
            "retry_at": iso(self.retry_at),
            "overdue_seconds": self.overdue_seconds,
            "idle_since": iso(self.idle_since),
        }


def grace_of(spec: TaskSpec, near: datetime) -> timedelta | None:
    """The configured grace, else one period of the schedule, at most a day; None unscheduled."""
    if spec.settings.alert.grace is not None:
        return spec.settings.alert.grace
    schedule = spec.schedule
    if schedule is None:
        return None
    return min(schedule.period_near(near), MAX_DEFAULT_GRACE)


def next_due(
    spec: TaskSpec, last_success: datetime | None, first_seen: datetime
) -> datetime | None:
    """The first slot after the last success (or after the task was first seen); None when
    the task has no schedule or is switched off."""
    schedule = spec.schedule
    if schedule is None or not spec.settings.enabled:
        return None
    return schedule.next_after(last_success or first_seen)


def is_idle(spec: TaskSpec, idle_since: datetime | None, now: datetime) -> bool:
    """True when the task has idle_after set and has only succeeded with nothing to do
    (items = 0) since ``idle_since``, for longer than that."""
    idle_after = spec.settings.alert.idle_after
    return idle_after is not None and idle_since is not None and now - idle_since > idle_after


def derive_status(
    spec: TaskSpec, state: Any, running: bool, now: datetime
) -> tuple[str, datetime | None, float]:
    """(status, next due time, seconds overdue) for one task at ``now``."""
    due = next_due(spec, state.last_success_at, state.first_seen_at)
    overdue = max((now - due).total_seconds(), 0.0) if due else 0.0
    if not spec.settings.enabled:
        return "paused", due, overdue
    if running:
        return "running", due, overdue
    if state.sticky_error or state.failures >= spec.settings.alert.after_failures:
        return "down", due, overdue
    if due is None or now < due:
        if is_idle(spec, state.idle_since, now):
            return "idle", due, overdue
        return ("up" if state.last_success_at else "new"), due, overdue
    grace = grace_of(spec, due)
    assert grace is not None
    return ("late" if now < due + grace else "down"), due, overdue


class Monitor:
    def __init__(self, config: Config, engine: Engine) -> None:
        self.config = config
        self.engine = engine

    def statuses(self, now: datetime, names: Iterable[str] | None = None) -> list[TaskStatus]:
        wanted = list(names) if names is not None else list(self.config.tasks)
        with reading(self.engine) as connection:
            states = {
                row.task: row
                for row in connection.execute(
                    select(task_state).where(task_state.c.task.in_(wanted))
                )
            }
            running = set(
                connection.execute(
                    select(runs.c.task).where(runs.c.state == RUNNING, runs.c.task.in_(wanted))
                ).scalars()
            )
            retries = dict(
                connection.execute(
                    select(runs.c.task, runs.c.not_before).where(
                        runs.c.state == QUEUED,
                        runs.c.reason == "retry",
                        runs.c.task.in_(wanted),
                    )
                ).all()
            )
            last_errors = dict(
                connection.execute(
                    select(runs.c.task, runs.c.error).where(
                        runs.c.id.in_([s.last_run_id for s in states.values() if s.last_run_id])
                    )
                ).all()
            )
        result = []
        for name in wanted:
            spec = self.config.tasks[name]
            state = states.get(name)
            if state is None:
                continue
            status, due, overdue = derive_status(spec, state, name in running, now)
            result.append(
                TaskStatus(
                    task=name,
                    type=spec.type,
                    executor=spec.executor,
                    status=status,
                    enabled=spec.settings.enabled,
                    last_run=state.last_started_at or state.last_finished_at,
                    last_run_id=state.last_run_id,
                    last_outcome=state.last_outcome,
                    last_success=state.last_success_at,
                    last_duration=state.last_duration,
                    next_due=due,
                    failures=state.failures,
                    error=state.sticky_error or last_errors.get(state.last_run_id),
                    retry_at=retries.get(name),
                    overdue_seconds=overdue,
                    idle_since=state.idle_since,
                )
            )
        return result

    def record_flips(self, now: datetime) -> list[tuple[str, str, str]]:
        """Store each status change with its time; returns (task, from, to) for each flip."""
        flips: list[tuple[str, str, str]] = []
        with reading(self.engine) as connection:
            stored = dict(connection.execute(select(task_state.c.task, task_state.c.status)).all())
        changes = [s for s in self.statuses(now) if stored.get(s.task) != s.status]
        if not changes:
            return flips
        with self.engine.begin() as connection:
            for status in changes:
                before = stored.get(status.task)
                changed = connection.execute(
                    update(task_state)
                    .where(task_state.c.task == status.task, task_state.c.status == before)
                    .values(status=status.status, status_since=now)
                ).rowcount
                if changed:
                    connection.execute(
                        insert(status_changes).values(
                            task=status.task, at=now, from_status=before, to_status=status.status
                        )
                    )
                    flips.append((status.task, str(before), status.status))
        return flips
