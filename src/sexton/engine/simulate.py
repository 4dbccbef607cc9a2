"""``sexton simulate``: the runs the next days would bring, from the config alone.

The slots come from the scheduler's own code (``Schedule`` and ``slots_due``), so what is
simulated is what a scheduler creates. The simulation assumes the service starts at its
start (``at_start`` runs then), a scheduler ticks at every slot, and every run succeeds (no
retries): ``after`` followers run when their leader ends, ``requires`` is met from the end
of the required task's first run. Durations, when the database has them, are each task's
last run's; a task that never ran has none, and its overlaps are unknown.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from ..config import Config, TaskSpec
from ..db import reading
from ..db.tables import task_state
from .runbook import QUEUED_EXECUTORS
from .scheduler import slots_due

HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class History:
    """What the database knows that changes the schedule ahead."""

    duration: dict[str, timedelta] = field(default_factory=dict)
    succeeded: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class SimulatedRun:
    task: str
    at: datetime  # when it would start
    reason: str  # schedule, start or after, as on real runs
    slot: datetime | None  # the slot of a scheduled run
    skipped: str | None = None  # why it would be skipped instead of run

    def to_json(self) -> dict[str, object]:
        return {
            "task": self.task,
            "slot": self.slot.isoformat() if self.slot else None,
            "reason": self.reason,
            "at": self.at.isoformat(),
            "skipped": self.skipped,
        }


@dataclass(frozen=True, slots=True)
class Overlap:
    """Runs of two tasks (or of one task with itself) that would be running at once."""

    tasks: tuple[str, str]
    runs: int  # pairs of runs that overlap
    first: datetime
    exclusive: bool  # the tasks are ``exclusive_with`` each other: one would wait or skip

    def to_json(self) -> dict[str, object]:
        return {
            "tasks": list(self.tasks),
            "runs": self.runs,
            "first": self.first.isoformat(),
            "exclusive": self.exclusive,
        }


@dataclass(frozen=True, slots=True)
class Simulation:
    start: datetime
    end: datetime
    runs: list[SimulatedRun]
    durations: dict[str, timedelta | None]  # per simulated task; None: never ran
    overlaps: list[Overlap]

    def busiest_hour(self) -> tuple[datetime, int] | None:
        """The clock hour (UTC) in which the most runs start, the earliest of equals."""
        hours = Counter(
            r.at.replace(minute=0, second=0, microsecond=0) for r in self.runs if not r.skipped
        )
        if not hours:
            return None
        return min(hours.items(), key=lambda item: (-item[1], item[0]))

    def to_json(self) -> dict[str, object]:
        counts = Counter(r.task for r in self.runs if not r.skipped)
        skipped = Counter(r.task for r in self.runs if r.skipped)
        busiest = self.busiest_hour()
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "tasks": [
                {
                    "task": task,
                    "runs": counts[task],
                    "skipped": skipped[task],
                    "duration": None if duration is None else duration.total_seconds(),
                }
                for task, duration in self.durations.items()
            ],
            "runs": [r.to_json() for r in self.runs],
            "overlaps": [o.to_json() for o in self.overlaps],
            "unknown_durations": [t for t, d in self.durations.items() if d is None],
            "busiest_hour": (
                None if busiest is None else {"hour": busiest[0].isoformat(), "runs": busiest[1]}
            ),
        }


def read_history(engine: Engine) -> History:
    """Each task's last run duration and whether it ever succeeded."""
    query = select(task_state.c.task, task_state.c.last_duration, task_state.c.last_success_at)
    with reading(engine) as connection:
        rows = connection.execute(query).all()
    return History(
        duration={task: timedelta(seconds=d) for task, d, _ in rows if d is not None},
        succeeded=frozenset(task for task, _, success in rows if success is not None),
    )


def simulate(config: Config, start: datetime, days: int, history: History) -> Simulation:
    """The runs from ``start`` for ``days`` days, with their overlaps."""
    end = start + timedelta(days=days)
    poll = config.settings.scheduler.poll
    specs = [s for s in config.tasks.values() if s.settings.enabled]
    planned: list[SimulatedRun] = []
    for spec in specs:
        if spec.executor not in QUEUED_EXECUTORS:
            continue
        if spec.settings.at_start:
            planned.append(SimulatedRun(spec.name, start, "start", None))
        planned += _scheduled(spec, start, end, poll)
    runs = _with_followers(config, planned, end, history.duration)
    runs = _skip_unmet_requires(config, runs, history)
    simulated = {r.task for r in runs}
    durations = {s.name: history.duration.get(s.name) for s in specs if s.name in simulated}
    return Simulation(start, end, runs, durations, _overlaps(config, runs, durations))


def _scheduled(
    spec: TaskSpec, start: datetime, end: datetime, poll: timedelta
) -> list[SimulatedRun]:
    """The scheduled runs a scheduler started at ``start``, ticking every ``poll``, queues.

    Its start marks every slot before it handled (nothing is backfilled); ``catch_up`` then
    decides what a tick does when more than one slot passed since the last (a ``poll``
    longer than the task's period), exactly as ``slots_due`` decides it for the scheduler.
    """
    schedule = spec.schedule
    if schedule is None:
        return []
    runs: list[SimulatedRun] = []
    last = schedule.latest_at_or_before(start)
    due = schedule.next_after(last)
    while due < end:
        tick = start + -((start - due) // poll) * poll  # the first tick at or after ``due``
        if tick >= end:
            break
        slots = slots_due(schedule, spec.settings.catch_up, last, tick)
        runs += [SimulatedRun(spec.name, tick, "schedule", slot) for slot in slots]
        last = slots[-1] if slots else schedule.latest_at_or_before(tick)
        due = schedule.next_after(last)
    return runs


def _with_followers(
    config: Config, runs: list[SimulatedRun], end: datetime, durations: dict[str, timedelta]
) -> list[SimulatedRun]:
    """``runs`` and the ``after`` runs each queues when it ends, in order of start."""
    followers: dict[str, list[str]] = {}
    for spec in config.tasks.values():
        if spec.settings.enabled:
            for leader in spec.settings.after:
                followers.setdefault(leader, []).append(spec.name)
    every = list(runs)
    waiting = list(runs)
    depth = 0
    while waiting and depth < len(config.tasks):  # a chain longer than the tasks is a loop
        queued = [
            SimulatedRun(follower, at, "after", None)
            for run in waiting
            for follower in followers.get(run.task, [])
            if (at := run.at + durations.get(run.task, timedelta(0))) < end
        ]
        every += queued
        waiting = queued
        depth += 1
    # A follower queued when its leader ends comes after it, even with no duration known.
    return sorted(every, key=lambda r: (r.at, r.reason == "after", r.task))


def _skip_unmet_requires(
    config: Config, runs: list[SimulatedRun], history: History
) -> list[SimulatedRun]:
    """Runs that start before every task they require has succeeded once are skipped (the
    runs before them in ``runs`` are assumed to have succeeded)."""
    succeeded = set(history.succeeded)
    checked: list[SimulatedRun] = []
    for run in runs:
        unmet = [n for n in config.tasks[run.task].settings.requires if n not in succeeded]
        if unmet:
            run = SimulatedRun(run.task, run.at, run.reason, run.slot, f"requires {unmet[0]}")
        else:
            succeeded.add(run.task)
        checked.append(run)
    return checked


def _overlaps(
    config: Config, runs: list[SimulatedRun], durations: dict[str, timedelta | None]
) -> list[Overlap]:
    """Pairs of runs of known duration that would be running at the same time."""
    found: dict[tuple[str, str], list[datetime]] = {}
    active: list[tuple[datetime, str]] = []  # (end, task) of runs started and not yet over
    for run in runs:  # sorted by start
        duration = durations.get(run.task)
        if run.skipped or duration is None:
            continue
        active = [(ends, task) for ends, task in active if ends > run.at]
        for _, task in active:
            pair = (min(task, run.task), max(task, run.task))
            found.setdefault(pair, []).append(run.at)
        active.append((run.at + duration, run.task))
    return [
        Overlap(pair, len(starts), starts[0], _exclusive(config, *pair))
        for pair, starts in sorted(found.items())
    ]


def _exclusive(config: Config, first: str, second: str) -> bool:
    return (
        second in config.tasks[first].settings.exclusive_with
        or first in config.tasks[second].settings.exclusive_with
    )
