"""What the dashboard shows, gathered in one read: statuses, manual duties, stores, recent
failures and damaged files, and one task's page. Kept apart from the HTML so the page
templates only render."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from ..catalog import PRESENT, Catalog, StoreStats
from ..config import TaskSpec
from ..db import reading
from ..db.catalog_tables import corrupt_files, files, instances
from ..db.tables import runs, task_state
from ..engine.monitor import Monitor, TaskStatus
from ..engine.record import Run, list_runs
from ..engine.service import Instance
from ..engine.states import UNSUCCESSFUL
from ..stores import Store
from ..tasks.command import ForEachFile

# Problems first: the order an operator wants to read the task table in.
SEVERITY = {"down": 0, "late": 1, "idle": 1, "running": 2, "new": 3, "up": 4, "paused": 5}
RECENT_FAILURES = 10
CORRUPT_SHOWN = 20
TASK_RUNS_SHOWN = 30  # runs on a task's page; the API's /runs?task= has the full history


@dataclass(frozen=True)
class StoreUsage:
    name: str
    stats: StoreStats

    @property
    def used_fraction(self) -> float | None:
        """Share of the space Sexton may use that is taken; None when free space is unknown."""
        if self.stats.free is None:
            return None
        total = self.stats.bytes + self.stats.free
        return self.stats.bytes / total if total else 0.0


@dataclass(frozen=True)
class Damage:
    name: str
    store: str
    seen: int
    last_seen: datetime
    expected: str | None
    actual: str | None


@dataclass(frozen=True)
class Board:
    now: datetime
    tasks: list[TaskStatus]
    duties: list[TaskStatus]
    stores: list[StoreUsage]
    failures: list[Run]
    damage: list[Damage]

    @property
    def counts(self) -> Counter[str]:
        return Counter(status.status for status in self.tasks)


def gather(instance: Instance, stores: Mapping[str, Store]) -> Board:
    now = instance.clock.now()
    statuses = Monitor(instance.config, instance.engine).statuses(now)
    stats = Catalog(instance.engine, instance.clock).stats(stores)
    with reading(instance.engine) as connection:
        failed = connection.execute(
            select(runs)
            .where(runs.c.state.in_(UNSUCCESSFUL))
            .order_by(runs.c.id.desc())
            .limit(RECENT_FAILURES)
        ).all()
        damaged = connection.execute(
            select(
                files.c.name,
                corrupt_files.c.store,
                corrupt_files.c.count,
                corrupt_files.c.last_seen,
                corrupt_files.c.expected,
                corrupt_files.c.actual,
            )
            .join_from(corrupt_files, files, corrupt_files.c.file_id == files.c.id)
            .outerjoin(instances, corrupt_files.c.instance_id == instances.c.id)
            # A copy present again (repaired, or restored and rescanned) is no longer damage;
            # its record stays in the file's history (`sexton catalog show`).
            .where(or_(instances.c.id.is_(None), instances.c.state != PRESENT))
            .order_by(corrupt_files.c.last_seen.desc())
            .limit(CORRUPT_SHOWN)
        ).all()
    return Board(
        now=now,
        tasks=sorted(statuses, key=lambda s: (SEVERITY.get(s.status, 9), s.task)),
        duties=[s for s in statuses if s.executor == "manual"],
        stores=[StoreUsage(name, store) for name, store in stats.stores.items()],
        failures=[Run.from_row(row) for row in failed],
        damage=[Damage(*row) for row in damaged],
    )


@dataclass(frozen=True)
class TaskPage:
    now: datetime
    spec: TaskSpec
    status: TaskStatus
    sticky_error: str | None
    runs: list[Run]
    quarantined: int | None = None  # files a for_each_file command set aside; None: not one

    @property
    def clearable(self) -> bool:
        """Whether ``sexton clear`` would change anything: a sticky error or failures."""
        return self.sticky_error is not None or self.status.failures > 0

    @property
    def failures(self) -> list[Run]:
        return [run for run in self.runs if run.state in UNSUCCESSFUL]


def gather_task(instance: Instance, spec: TaskSpec) -> TaskPage:
    now = instance.clock.now()
    [status] = Monitor(instance.config, instance.engine).statuses(now, [spec.name])
    with reading(instance.engine) as connection:
        sticky = connection.execute(
            select(task_state.c.sticky_error).where(task_state.c.task == spec.name)
        ).scalar_one_or_none()
        recent = list_runs(connection, task=spec.name, limit=TASK_RUNS_SHOWN)
    each = getattr(spec.params, "for_each_file", None)
    quarantined = None
    if isinstance(each, ForEachFile):
        catalog = Catalog(instance.engine, instance.clock)
        quarantined = catalog.quarantined(each.needs, each.value, each.store)
    return TaskPage(
        now=now,
        spec=spec,
        status=status,
        sticky_error=sticky,
        runs=recent,
        quarantined=quarantined,
    )
