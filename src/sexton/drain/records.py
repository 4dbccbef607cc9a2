"""The drain's durable record: switches, series and their files, one commit per step.

Every method is one short transaction, so what it records is either wholly there or not at
all when the process dies; the steps (``steps.py``) are written so that redoing the step
that was interrupted is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, RowMapping, delete, func, insert, select, update

from ..catalog.records import iso
from ..checksums import Checksum
from ..db import reading
from ..db.drain_tables import drain_files, drain_series, drain_switches
from ..db.tables import runs, task_state

# Switches, as the draintasker's DRAINME and FINISH_DRAIN files were.
RUNNING = "running"  # drain complete series, hold back the newest file
STOPPED = "stopped"  # do nothing
FINISHING = "finishing"  # the crawl is over: also pack the last, partly filled series
SWITCHES = (RUNNING, STOPPED, FINISHING)
DEFAULT_SWITCH = RUNNING  # a configured drain drains until someone stops it

# Series states: the next step to do, in order; then done, or error (sticky).
MANIFEST = "manifest"
TRANSFER = "transfer"
VERIFY = "verify"
TOMBSTONE = "tombstone"
DELETE = "delete"
DONE = "done"
ERROR = "error"


@dataclass(frozen=True)
class SeriesFile:
    """One source file in a series, with how far it got."""

    id: int
    path: str
    target: str
    size: int
    checksum: Checksum | None
    copied_at: datetime | None
    tombstone: str | None
    deleted_at: datetime | None

    @classmethod
    def of(cls, row: RowMapping) -> SeriesFile:
        checksum = row["checksum"]
        return cls(
            id=row["id"],
            path=row["path"],
            target=row["target"],
            size=row["size"],
            checksum=Checksum.parse(checksum) if checksum else None,
            copied_at=row["copied_at"],
            tombstone=row["tombstone"],
            deleted_at=row["deleted_at"],
        )


@dataclass(frozen=True)
class Series:
    """A group of source files drained together under one name in the destination."""

    id: int
    task: str
    serial: int
    name: str
    state: str
    size: int
    files: int
    error: str | None
    resume: str | None
    error_run: int | None
    retry_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: RowMapping) -> Series:
        return cls(**{key: row[key] for key in cls.__dataclass_fields__})

    def to_json(self) -> dict[str, Any]:
        """One series in `sexton drain status --json`."""
        return {
            "serial": self.serial,
            "name": self.name,
            "state": self.state,
            "size": self.size,
            "files": self.files,
            "error": self.error,
            "retry_at": iso(self.retry_at),
            "updated_at": iso(self.updated_at),
        }

    @property
    def manifest_name(self) -> str:
        """Where the MANIFEST lies in the destination: beside the series' files."""
        return f"{self.name}/MANIFEST"


@dataclass(frozen=True)
class PackedFile:
    """A source file chosen for a new series, and its name in the destination."""

    path: str
    target: str
    size: int


class DrainBook:
    """Reads and writes the drain tables (and reads the engine's sticky error)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- switches --------------------------------------------------------------------------

    def switch(self, task: str) -> str:
        with reading(self.engine) as connection:
            state = connection.execute(
                select(drain_switches.c.state).where(drain_switches.c.task == task)
            ).scalar_one_or_none()
        return state or DEFAULT_SWITCH

    def switches(self) -> dict[str, str]:
        with reading(self.engine) as connection:
            return dict(
                connection.execute(select(drain_switches.c.task, drain_switches.c.state)).all()
            )

    def set_switch(self, task: str, state: str, now: datetime) -> None:
        if state not in SWITCHES:
            raise ValueError(f"unknown drain switch {state!r}; expected one of {SWITCHES}")
        with self.engine.begin() as connection:
            connection.execute(delete(drain_switches).where(drain_switches.c.task == task))
            connection.execute(
                insert(drain_switches).values(task=task, state=state, changed_at=now)
            )

    # -- series ----------------------------------------------------------------------------

    def series_of(self, task: str, *, include_done: bool = True) -> list[Series]:
        query = select(drain_series).where(drain_series.c.task == task)
        if not include_done:
            query = query.where(drain_series.c.state != DONE)
        with reading(self.engine) as connection:
            rows = connection.execute(query.order_by(drain_series.c.serial)).mappings()
            return [Series.of(row) for row in rows]

    def get_series(self, series_id: int) -> Series:
        with reading(self.engine) as connection:
            row = connection.execute(
                select(drain_series).where(drain_series.c.id == series_id)
            ).mappings()
            return Series.of(row.one())

    def done_totals(self, task: str) -> tuple[int, int, int]:
        """(series, files, bytes) of the task's finished series, without listing them."""
        query = select(
            func.count(),
            func.coalesce(func.sum(drain_series.c.files), 0),
            func.coalesce(func.sum(drain_series.c.size), 0),
        ).where(drain_series.c.task == task, drain_series.c.state == DONE)
        with reading(self.engine) as connection:
            count, files, size = connection.execute(query).one()
        return int(count), int(files), int(size)

    def files_of(self, series_id: int) -> list[SeriesFile]:
        with reading(self.engine) as connection:
            rows = connection.execute(
                select(drain_files)
                .where(drain_files.c.series_id == series_id)
                .order_by(drain_files.c.id)
            ).mappings()
            return [SeriesFile.of(row) for row in rows]

    def file(self, file_id: int) -> SeriesFile:
        with reading(self.engine) as connection:
            row = connection.execute(select(drain_files).where(drain_files.c.id == file_id))
            return SeriesFile.of(row.mappings().one())

    def draining_paths(self, task: str) -> set[str]:
        """Source paths already in a series and not yet deleted: never packed twice."""
        query = (
            select(drain_files.c.path)
            .join(drain_series, drain_series.c.id == drain_files.c.series_id)
            .where(drain_series.c.task == task, drain_files.c.deleted_at.is_(None))
        )
        with reading(self.engine) as connection:
            return set(connection.execute(query).scalars())

    def next_serial(self, task: str) -> int:
        with reading(self.engine) as connection:
            last = connection.execute(
                select(func.max(drain_series.c.serial)).where(drain_series.c.task == task)
            ).scalar_one()
        return (last or 0) + 1

    def add_series(
        self, task: str, serial: int, name: str, packed: Sequence[PackedFile], now: datetime
    ) -> Series:
        """Record a packed series and all its files in one transaction (PACKED)."""
        with self.engine.begin() as connection:
            series_id = connection.execute(
                insert(drain_series)
                .values(
                    task=task,
                    serial=serial,
                    name=name,
                    state=MANIFEST,
                    size=sum(f.size for f in packed),
                    files=len(packed),
                    created_at=now,
                    updated_at=now,
                )
                .returning(drain_series.c.id)
            ).scalar_one()
            connection.execute(
                insert(drain_files),
                [
                    {"series_id": series_id, "path": f.path, "target": f.target, "size": f.size}
                    for f in packed
                ],
            )
        return self.get_series(series_id)

    def advance(self, series: Series, to: str, now: datetime) -> None:
        """Move a series to its next step; any transfer error it carried is over."""
        with self.engine.begin() as connection:
            connection.execute(
                update(drain_series)
                .where(drain_series.c.id == series.id)
                .values(state=to, error=None, retry_at=None, updated_at=now)
            )

    def record_retry(
        self, series: Series, error: str, retry_at: datetime | None, now: datetime
    ) -> None:
        """A transfer failed: say why and when it is tried again (the RETRY.epoch file)."""
        with self.engine.begin() as connection:
            connection.execute(
                update(drain_series)
                .where(drain_series.c.id == series.id)
                .values(error=error, retry_at=retry_at, updated_at=now)
            )

    def record_error(self, series: Series, error: str, resume: str, now: datetime) -> None:
        """Stop this series until a person clears the task (the ERROR file)."""
        with self.engine.begin() as connection:
            connection.execute(
                update(drain_series)
                .where(drain_series.c.id == series.id)
                .values(state=ERROR, error=error, resume=resume, retry_at=None, updated_at=now)
            )

    def claim_errors(self, task: str, run_id: int) -> list[Series]:
        """The task's series in error, now reported by run ``run_id``: clearing that run's
        sticky failure is what releases them (see ``error_cleared``)."""
        with self.engine.begin() as connection:
            connection.execute(
                update(drain_series)
                .where(drain_series.c.task == task, drain_series.c.state == ERROR)
                .values(error_run=run_id)
            )
        return [s for s in self.series_of(task, include_done=False) if s.state == ERROR]

    def error_cleared(self, task: str, series: Series) -> bool:
        """Whether a person cleared the error: the run that found it ended as a sticky
        failure and the task holds no sticky error any more.

        A run that died before recording its failure left nothing to clear, so a series
        whose finding run did not end ``failed`` stays in error (the next run reports it).
        """
        with reading(self.engine) as connection:
            sticky = connection.execute(
                select(task_state.c.sticky_error).where(task_state.c.task == task)
            ).scalar_one_or_none()
            reported = connection.execute(
                select(runs.c.state).where(runs.c.id == series.error_run)
            ).scalar_one_or_none()
        return sticky is None and reported == "failed"  # the engine's FAILED run state

    def reset(self, series: Series, now: datetime) -> None:
        """Start a series again from the step its error names, forgetting what that step
        and the later ones recorded for the files still in the source."""
        resume = series.resume or MANIFEST
        values: dict[str, object] = {"copied_at": None, "tombstone": None}
        if resume == MANIFEST:
            values["checksum"] = None
        with self.engine.begin() as connection:
            connection.execute(
                update(drain_files)
                .where(drain_files.c.series_id == series.id, drain_files.c.deleted_at.is_(None))
                .values(**values)
            )
            connection.execute(
                update(drain_series)
                .where(drain_series.c.id == series.id)
                .values(state=resume, error=None, resume=None, error_run=None, updated_at=now)
            )

    # -- per file --------------------------------------------------------------------------

    def set_checksums(self, found: Iterable[tuple[int, Checksum]]) -> None:
        with self.engine.begin() as connection:
            for file_id, checksum in found:
                connection.execute(
                    update(drain_files)
                    .where(drain_files.c.id == file_id)
                    .values(checksum=str(checksum))
                )

    def set_copied(self, file_id: int, now: datetime) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(drain_files).where(drain_files.c.id == file_id).values(copied_at=now)
            )

    def tombstone(self, series: Series, destination: str) -> None:
        """Record for every file where its verified copy is (TOMBSTONE)."""
        with self.engine.begin() as connection:
            connection.execute(
                update(drain_files)
                .where(drain_files.c.series_id == series.id)
                .values(tombstone=destination + ":" + drain_files.c.target)
            )

    def set_deleted(self, file_id: int, now: datetime) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(drain_files).where(drain_files.c.id == file_id).values(deleted_at=now)
            )

    def run_attempt(self, run_id: int) -> int:
        """Which attempt of its task a run is (for the retry policy's next delay)."""
        with reading(self.engine) as connection:
            attempt = connection.execute(
                select(runs.c.attempt).where(runs.c.id == run_id)
            ).scalar_one_or_none()
        return attempt or 1
