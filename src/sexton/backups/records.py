"""The record of backups and their drills: what was written where, whether it verified,
whether a person asked to keep it, and what each restore drill found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, RowMapping, func, insert, select, update

from ..db import reading
from ..db.backup_tables import backup_drills, backups


class UnknownBackup(KeyError):
    """No such backup of that task."""


@dataclass(frozen=True)
class Drill:
    """One restore drill of one backup."""

    at: datetime
    task: str
    run_id: int | None
    ok: bool
    error: str | None
    results: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "task": self.task,
            "run": self.run_id,
            "ok": self.ok,
            "error": self.error,
            "results": self.results,
        }


@dataclass(frozen=True)
class BackupRecord:
    id: int
    task: str
    store: str
    name: str
    format: str
    size: int
    checksum: str
    created_at: datetime
    run_id: int | None
    verified_at: datetime | None
    verify_ok: bool | None  # None: not verified (yet)
    verify_error: str | None
    keep: bool
    deleted_at: datetime | None
    drills: int = 0
    last_drill: Drill | None = None

    def to_json(self) -> dict[str, Any]:
        """The shape of `sexton backup ls --json` (stable: scripts depend on it)."""
        return {
            "name": self.name,
            "task": self.task,
            "store": self.store,
            "format": self.format,
            "size": self.size,
            "checksum": self.checksum,
            "created_at": _iso(self.created_at),
            "run": self.run_id,
            "verified": self.verify_ok,
            "verified_at": _iso(self.verified_at),
            "verify_error": self.verify_error,
            "keep": self.keep,
            "deleted_at": _iso(self.deleted_at),
            "drills": self.drills,
            "last_drill": self.last_drill.to_json() if self.last_drill else None,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


class BackupBook:
    """Backup rows of every task, one transaction per call."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self,
        *,
        task: str,
        store: str,
        name: str,
        format: str,
        size: int,
        checksum: str,
        created_at: datetime,
        run_id: int | None,
    ) -> int:
        """Record a backup once it is complete in the store; returns its id."""
        with self.engine.begin() as connection:
            result = connection.execute(
                insert(backups).values(
                    task=task,
                    store=store,
                    name=name,
                    format=format,
                    size=size,
                    checksum=checksum,
                    created_at=created_at,
                    run_id=run_id,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def verified(self, backup_id: int, at: datetime, error: str | None) -> None:
        """Record a verification: sound when ``error`` is None."""
        with self.engine.begin() as connection:
            connection.execute(
                update(backups)
                .where(backups.c.id == backup_id)
                .values(verified_at=at, verify_ok=error is None, verify_error=error)
            )

    def deleted(self, backup_id: int, at: datetime) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(backups).where(backups.c.id == backup_id).values(deleted_at=at)
            )

    def keep(self, task: str, name: str, keep: bool = True) -> None:
        """Protect a backup from retention (or lift the protection)."""
        with self.engine.begin() as connection:
            result = connection.execute(
                update(backups)
                .where(backups.c.task == task, backups.c.name == name)
                .values(keep=keep)
            )
            if result.rowcount == 0:
                raise UnknownBackup(f"no backup named {name!r} of task {task!r}")

    def add_drill(
        self,
        backup_id: int,
        *,
        task: str,
        run_id: int | None,
        at: datetime,
        error: str | None,
        results: list[dict[str, Any]],
    ) -> None:
        """Record a drill: passed when ``error`` is None."""
        with self.engine.begin() as connection:
            connection.execute(
                insert(backup_drills).values(
                    backup_id=backup_id,
                    task=task,
                    run_id=run_id,
                    at=at,
                    ok=error is None,
                    error=error,
                    results=results,
                )
            )

    def drilled_by(self, task: str) -> dict[int, datetime]:
        """When drill task ``task`` last drilled each backup it drilled (backup id → time)."""
        with reading(self.engine) as connection:
            rows = connection.execute(
                select(backup_drills.c.backup_id, func.max(backup_drills.c.at))
                .where(backup_drills.c.task == task)
                .group_by(backup_drills.c.backup_id)
            ).all()
        return {int(backup_id): at for backup_id, at in rows}

    def of_task(self, task: str, include_deleted: bool = False) -> list[BackupRecord]:
        """The task's backups, newest first, each with its drill count and latest drill."""
        counts = (
            select(
                backup_drills.c.backup_id,
                func.count().label("drills"),
                func.max(backup_drills.c.id).label("last_id"),
            )
            .group_by(backup_drills.c.backup_id)
            .subquery()
        )
        last = backup_drills.alias("last")
        query = (
            select(
                backups,
                counts.c.drills,
                last.c.at.label("drill_at"),
                last.c.task.label("drill_task"),
                last.c.run_id.label("drill_run"),
                last.c.ok.label("drill_ok"),
                last.c.error.label("drill_error"),
                last.c.results.label("drill_results"),
            )
            .select_from(
                backups.outerjoin(counts, counts.c.backup_id == backups.c.id).outerjoin(
                    last, last.c.id == counts.c.last_id
                )
            )
            .where(backups.c.task == task)
            .order_by(backups.c.created_at.desc(), backups.c.id.desc())
        )
        if not include_deleted:
            query = query.where(backups.c.deleted_at.is_(None))
        with reading(self.engine) as connection:
            return [_record(row) for row in connection.execute(query).mappings()]


def _record(row: RowMapping) -> BackupRecord:
    drill = None
    if row["drill_at"] is not None:
        drill = Drill(
            at=row["drill_at"],
            task=row["drill_task"],
            run_id=row["drill_run"],
            ok=bool(row["drill_ok"]),
            error=row["drill_error"],
            results=list(row["drill_results"] or []),
        )
    return BackupRecord(
        id=row["id"],
        task=row["task"],
        store=row["store"],
        name=row["name"],
        format=row["format"],
        size=row["size"],
        checksum=row["checksum"],
        created_at=row["created_at"],
        run_id=row["run_id"],
        verified_at=row["verified_at"],
        verify_ok=row["verify_ok"],
        verify_error=row["verify_error"],
        keep=bool(row["keep"]),
        deleted_at=row["deleted_at"],
        drills=int(row["drills"] or 0),
        last_drill=drill,
    )
