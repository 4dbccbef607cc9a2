"""``restore_drill``: restore one backup of another task into a scratch database and check
that the counts look sensible; the drill is recorded on the backup, the values on the run."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from ..backups.context import backup_book
from ..backups.drill import Check, Target, fetch, run_checks
from ..backups.records import BackupRecord
from ..catalog import UnknownStore
from ..checksums import Checksum
from ..stores import StoreError
from .base import RunContext, Task, TaskFailed, TaskParams


def pick(backups: Sequence[BackupRecord], newest: bool, chance: random.Random) -> BackupRecord:
    """The backup to drill: the newest, or a random one never drilled, else the one whose
    last drill is oldest. Backups that failed verification are not worth restoring."""
    candidates = [b for b in backups if b.verify_ok is not False]
    if not candidates:
        raise TaskFailed("no backup to drill: none recorded, or none passed verification")
    if newest:
        return max(candidates, key=lambda b: (b.created_at, b.id))
    fresh = [b for b in candidates if b.last_drill is None]
    if fresh:
        return chance.choice(fresh)
    return min(candidates, key=lambda b: b.last_drill.at if b.last_drill else b.created_at)


class RestoreDrillTask(Task):
    type = "restore_drill"

    class Params(TaskParams):
        backup_task: str
        target: Target
        checks: list[Check] = Field(min_length=1)
        newest: bool = False  # drill the latest backup ("today's backup restores")

    def run(self, ctx: RunContext) -> None:
        params: RestoreDrillTask.Params = ctx.params
        book = backup_book(ctx)
        backup = pick(book.of_task(params.backup_task), params.newest, random.Random())
        ctx.event("drilling backup", name=backup.name, created_at=backup.created_at.isoformat())

        def record(error: str | None, results: list[dict[str, object]]) -> None:
            book.add_drill(
                backup.id,
                task=ctx.task_name,
                run_id=ctx.run_id,
                at=ctx.now(),
                error=error,
                results=results,
            )

        try:
            results = self._drill(backup, params, ctx)
        except TaskFailed as exc:
            record(str(exc), [])
            raise
        failed = [r for r in results if not r["ok"]]
        error = f"{len(failed)} of {len(results)} checks failed" if failed else None
        record(error, results)
        if error is not None:
            raise TaskFailed(f"drill of {backup.name}: {error}")

    @staticmethod
    def _drill(
        backup: BackupRecord, params: RestoreDrillTask.Params, ctx: RunContext
    ) -> list[dict[str, object]]:
        if backup.format != params.target.restores:
            raise TaskFailed(
                f"backup {backup.name} is {backup.format}; this target restores "
                f"{params.target.restores} backups"
            )
        try:
            store = ctx.stores[backup.store]
        except (UnknownStore, StoreError) as exc:
            raise TaskFailed(str(exc)) from None
        with tempfile.TemporaryDirectory(prefix="sexton-drill-") as scratch:
            local = Path(scratch) / "backup"
            fetch(store, backup.name, backup.size, Checksum.parse(backup.checksum), local)
            ctx.progress(bytes=backup.size)
            with params.target.restored(local, ctx) as cursor:
                results = run_checks(cursor, params.checks)
        for result in results:
            ctx.event("check", check=result.check, value=result.value, min=result.min, ok=result.ok)
            ctx.progress(items=1)
        return [r.to_json() for r in results]
