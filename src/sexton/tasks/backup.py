"""``backup``: stream a database or directory into a store, verify it there, record it, and
let old backups go by the retention policy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from pydantic import field_validator, model_validator

from ..backups.context import backup_book
from ..backups.records import BackupBook, BackupRecord
from ..backups.retention import RetentionPolicy, expired
from ..backups.sources import Source
from ..backups.verify import verify
from ..catalog import ALLOWED, Arrival, CatalogError, UnknownStore
from ..config.models import Algorithm, StoreName
from ..stores import Store, StoreError, UnsafePath, safe_name
from .base import RunContext, Task, TaskFailed, TaskParams
from .planning import PlanContext, PlannedAction

DEFAULT_NAME = "{task}/{date:%Y-%m-%dT%H%M%SZ}.{ext}"
# Other copies a backup needs before retention may delete it: none. Its retention policy,
# which always keeps the newest verified backup, is what protects the data.
RETENTION_DECIDES = 0


def backup_name(template: str, task: str, now: datetime, ext: str) -> str:
    """The store path of a backup made ``now`` (in UTC)."""
    return safe_name(template.format(task=task, date=now.astimezone(UTC), ext=ext))


class BackupTask(Task):
    type = "backup"
    plans = True

    class Params(TaskParams):
        source: Source
        destination: StoreName
        # The backup's path on the store (`name` is the task's own name, hence file_name).
        file_name: str = DEFAULT_NAME
        verify: bool = True
        retention: RetentionPolicy | None = None
        checksum: Algorithm | None = None  # default: the config's `checksum:`

        @field_validator("file_name")
        @classmethod
        def _template(cls, value: str) -> str:
            sample = datetime(2000, 1, 2, 3, 4, 5, tzinfo=UTC)
            try:
                backup_name(value, "task", sample, "ext")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(
                    f"bad file_name template {value!r} ({exc}); it may use {{task}}, "
                    "{date:STRFTIME} and {ext}"
                ) from None
            if "{date" not in value:
                raise ValueError("the file_name template must contain {date...}: names must differ")
            return value

        @model_validator(mode="after")
        def _retention_needs_verify(self) -> BackupTask.Params:
            if self.retention is not None and not self.verify:
                raise ValueError(
                    "retention needs verify: true (nothing is deleted while the newest "
                    "backup is unverified)"
                )
            return self

    def run(self, ctx: RunContext) -> None:
        params: BackupTask.Params = ctx.params
        store = _store(ctx, params.destination)
        book = backup_book(ctx)
        algorithm = params.checksum or ctx.catalog.checksum
        made = ctx.now()
        name = backup_name(params.file_name, ctx.task_name, made, params.source.extension())
        try:
            with store.write(name, [algorithm]) as writer:
                params.source.write_to(writer, ctx)
        except (StoreError, UnsafePath, OSError) as exc:
            raise TaskFailed(f"backup {name} to store {store.name} failed: {exc}") from None
        checksum = writer.checksums[algorithm]
        backup_id = book.add(
            task=ctx.task_name,
            store=store.name,
            name=name,
            format=params.source.format,
            size=writer.size,
            checksum=str(checksum),
            created_at=made,
            run_id=ctx.run_id,
        )
        # Hashed while written: the catalog's verified copy, like any clone (DESIGN §5.2).
        _register(
            ctx,
            Arrival(
                name=name,
                size=writer.size,
                checksum=str(checksum),
                store=store.name,
                path=name,
                source=f"backup:{ctx.task_name}",
                deletion_policy=ALLOWED,  # retention lets it go
                created_at=made,
            ),
        )
        ctx.progress(items=1, bytes=writer.size)
        ctx.event("backup written", name=name, size=writer.size, checksum=checksum)
        if params.verify:
            problem = verify(store, name, writer.size, checksum, params.source.format)
            book.verified(backup_id, ctx.now(), problem)
            if problem is not None:
                raise TaskFailed(f"backup {name} failed verification: {problem}")
            ctx.event("backup verified", name=name)
        if params.retention is not None:
            apply_retention(book, store, ctx, params.retention)

    def plan(self, ctx: PlanContext) -> Iterator[PlannedAction]:
        """The backups retention lets go once the run's own backup is written and verified
        (a run whose backup fails verification deletes nothing)."""
        params: BackupTask.Params = ctx.params
        if params.retention is None:
            return
        now = ctx.now()
        ext = params.source.extension()
        upcoming = BackupRecord(
            id=0,  # never a stored backup's id
            task=ctx.task_name,
            store=params.destination,
            name=backup_name(params.file_name, ctx.task_name, now, ext),
            format=params.source.format,
            size=0,
            checksum="",
            created_at=now,
            run_id=None,
            verified_at=now,
            verify_ok=True,
            verify_error=None,
            keep=False,
            deleted_at=None,
        )
        backups = [*backup_book(ctx).of_task(ctx.task_name), upcoming]
        rules = params.retention.model_dump(exclude_none=True, mode="json")
        why = "not kept by retention " + ", ".join(f"{k}: {v}" for k, v in rules.items())
        for backup in _expired_on(backups, params.destination, params.retention, now):
            yield PlannedAction("delete", backup.store, backup.name, backup.size, why)


def apply_retention(
    book: BackupBook, store: Store, ctx: RunContext, policy: RetentionPolicy
) -> None:
    """Delete the task's backups the policy lets go, through the catalog's one deletion
    function; the backup record keeps them as deleted."""
    for backup in _expired_on(book.of_task(ctx.task_name), store.name, policy, ctx.now()):
        try:
            _delete(ctx, store, backup.name)
        except (StoreError, OSError) as exc:
            raise TaskFailed(f"retention could not delete {backup.name}: {exc}") from None
        book.deleted(backup.id, ctx.now())
        ctx.event("backup deleted by retention", name=backup.name)


def _expired_on(
    backups: list[BackupRecord], store: str, policy: RetentionPolicy, now: datetime
) -> list[BackupRecord]:
    """The backups on ``store`` the policy lets go; those written when the task had another
    destination are not ours to reach now."""
    return [b for b in expired(backups, policy, now) if b.store == store]


def _register(ctx: RunContext, arrival: Arrival) -> None:
    try:
        ctx.catalog.ingest(arrival)
    except CatalogError as exc:  # the name is the catalog's record of another file
        raise TaskFailed(f"backup {arrival.name} cannot be catalogued: {exc}") from None


def _delete(ctx: RunContext, store: Store, name: str) -> None:
    copy = ctx.catalog.present_copy(store.name, name)
    if copy is None:
        # Written before backups joined the catalog, or already found missing or corrupt
        # there: nothing the catalog counts on, so only the store holds anything to remove.
        store.delete(name, missing_ok=True)
        return
    if not ctx.catalog.delete_copy(copy, store, RETENTION_DECIDES, timedelta(0)):
        raise TaskFailed(f"the catalog refused to delete {store.name}:{name}")


def _store(ctx: RunContext, name: str) -> Store:
    try:
        return ctx.stores[name]
    except (UnknownStore, StoreError) as exc:
        raise TaskFailed(str(exc)) from None
