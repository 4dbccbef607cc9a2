"""``restore_drill``: restore one backup of another task into a scratch database or
directory and check that what came back looks sensible; the drill is recorded on the backup,
the values on the run.

Targets and their checks, by the kind of backup drilled:

- SQLite and PostgreSQL dumps: ``target: {sqlite: SCRATCH_FILE}`` or
  ``{postgres: SERVER_URL}`` (a scratch database is created and dropped); checks
  ``{table: T, min_rows: N}`` and ``{query: SQL, min: N}``.
- Directories (``{path: DIR}``, tar.gz): ``target: {directory: SCRATCH_DIR}``, or no target
  (the system's temp dir); the archive is extracted safely, then checks
  ``{files_min: N}`` (with ``glob: "**/*.warc.gz"`` to count only some files) and
  ``{path: "conf/site.ini", exists: true}`` (or ``exists: false``) run on the tree, paths
  relative to the directory that was backed up.
- MongoDB archives: ``target: {mongodb: SERVER_URL}``, restored into scratch databases that
  are dropped afterwards; checks ``{collection: DB.COLLECTION, min_docs: N}``. Needs
  ``mongorestore`` and ``mongosh`` on the worker; without them the run fails saying so, and no
  drill is recorded against the backup.

A check that cannot run on the target (a SQL query on a directory) is a config error.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from pydantic import Field, model_validator

from ..backups.context import backup_book
from ..backups.drill import DrillTarget, fetch
from ..backups.drill_files import DirectoryTarget
from ..backups.records import BackupRecord
from ..backups.targets import AnyCheck, Target, misfit
from ..catalog import UnknownStore
from ..checksums import Checksum
from ..config.models import Duration
from ..durations import format_duration
from ..stores import StoreError
from .base import RunContext, Task, TaskFailed, TaskParams


def pick(
    backups: Sequence[BackupRecord],
    newest: bool,
    chance: random.Random,
    drilled_at: Mapping[int, datetime],
) -> BackupRecord:
    """The backup to drill: the newest, or a random one this task never drilled, else the one
    it drilled longest ago. Only this task's own drills count (``drilled_at``: backup id →
    its latest drill by this task): a nightly drill of each new backup must not make a
    monthly drill always take the oldest. Backups that failed verification are skipped."""
    candidates = [b for b in backups if b.verify_ok is not False]
    if not candidates:
        raise TaskFailed("no backup to drill: none recorded, or none passed verification")
    if newest:
        return max(candidates, key=lambda b: (b.created_at, b.id))
    fresh = [b for b in candidates if b.id not in drilled_at]
    if fresh:
        return chance.choice(fresh)
    return min(candidates, key=lambda b: drilled_at[b.id])


class RestoreDrillTask(Task):
    type = "restore_drill"

    class Params(TaskParams):
        backup_task: str
        target: Target | None = None  # none: a directory backup, extracted in the temp dir
        checks: list[AnyCheck] = Field(min_length=1)
        newest: bool = False  # drill the latest backup ("today's backup restores")
        # Only backups younger than this count: with newest, "today's backup exists".
        max_age: Duration | None = None

        @property
        def drill_target(self) -> DrillTarget:
            return self.target if self.target is not None else DirectoryTarget()

        @model_validator(mode="after")
        def _checks_fit_target(self) -> RestoreDrillTask.Params:
            problem = misfit(self.drill_target, self.checks)
            if problem is not None:
                raise ValueError(problem)
            return self

    def run(self, ctx: RunContext) -> None:
        params: RestoreDrillTask.Params = ctx.params
        unavailable = params.drill_target.unavailable()
        if unavailable is not None:  # the worker's fault, not the backup's: no drill recorded
            raise TaskFailed(unavailable)
        book = backup_book(ctx)
        backups = book.of_task(params.backup_task)
        if params.max_age is not None:
            backups = [b for b in backups if b.created_at > ctx.now() - params.max_age]
            if not backups:
                raise TaskFailed(
                    f"no backup of {params.backup_task} was made in the last "
                    f"{format_duration(params.max_age)}"
                )
        drilled_at = book.drilled_by(ctx.task_name)
        backup = pick(backups, params.newest, random.Random(), drilled_at)
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
        target = params.drill_target
        if backup.format != target.restores:
            raise TaskFailed(
                f"backup {backup.name} is {backup.format}; this target restores "
                f"{target.restores} backups"
            )
        try:
            store = ctx.stores[backup.store]
        except (UnknownStore, StoreError) as exc:
            raise TaskFailed(str(exc)) from None
        with tempfile.TemporaryDirectory(prefix="sexton-drill-") as scratch:
            local = Path(scratch) / "backup"
            fetch(store, backup.name, backup.size, Checksum.parse(backup.checksum), local)
            ctx.progress(bytes=backup.size)
            results = target.drill(local, params.checks, ctx)
        for result in results:
            ctx.event("check", check=result.check, value=result.value, min=result.min, ok=result.ok)
            ctx.progress(items=1)
        return [r.to_json() for r in results]
