"""Recording what a listing saw, one batch per transaction.

Each function is one or two statements over a whole batch: per-row round trips would make a
million-file scan take hours. Listings of the same store may run concurrently (two scan tasks
with overlapping prefixes, a scan and an import), so inserts use ``ON CONFLICT`` instead of
check-then-insert, which would let both sides insert and one fail on the unique constraint.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Integer, String, bindparam, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from sexton.checksums import Checksum
from sexton.db.catalog_tables import files, instances
from sexton.stores import EntryInfo

from .records import CORRUPT, MISSING, PRESENT
from .scope import Scope
from .upsert import insert_for

# Rows fetched at a time when streaming a store's instances (missing detection).
STREAM_BATCH = 5000
# States of a copy that a listing expects to find; missing and deleted ones it does not.
LISTED_STATES = (PRESENT, CORRUPT)


@dataclass(frozen=True, slots=True)
class Known:
    """What the catalog already holds about one listed name on this store."""

    instance_id: int
    size: int | None
    mtime: float | None
    state: str


@dataclass(frozen=True, slots=True)
class Observed:
    """A listed file with its checksum, if it was hashed during the scan."""

    entry: EntryInfo
    checksum: Checksum | None


def known_instances(connection: Connection, store: str, names: Sequence[str]) -> dict[str, Known]:
    """The catalog's record of each name on ``store``: one indexed lookup for the batch."""
    query = select(
        instances.c.path,
        instances.c.id,
        instances.c.size_seen,
        instances.c.mtime_seen,
        instances.c.state,
    ).where(instances.c.store == store, instances.c.path.in_(names))
    return {
        row.path: Known(row.id, row.size_seen, row.mtime_seen, row.state)
        for row in connection.execute(query)
    }


def add_new(
    connection: Connection,
    store: str,
    batch: Sequence[Observed],
    now: datetime,
    source: str,
    sweep: str | None,
) -> None:
    """Catalog files first listed now, and their copy on ``store``."""
    if not batch:
        return
    new_files = insert_for(connection, files)
    # A file of that name may already be catalogued (a copy on another store, or a concurrent
    # scan): the existing row wins, and only gains the checksum if it had none.
    new_files = new_files.on_conflict_do_update(
        index_elements=[files.c.name],
        set_={"checksum": new_files.excluded.checksum},
        where=files.c.checksum.is_(None) & new_files.excluded.checksum.is_not(None),
    )
    connection.execute(
        new_files,
        [
            {
                "name": o.entry.name,
                "size": o.entry.size,
                "checksum": _text(o.checksum),
                "created_at": _time(o.entry.mtime),
                "ingested_at": now,
                "source": source,
            }
            for o in batch
        ],
    )
    names = [o.entry.name for o in batch]
    query = select(files.c.name, files.c.id).where(files.c.name.in_(names))
    ids: dict[str, int] = dict(connection.execute(query).all())
    new_copies = insert_for(connection, instances)
    # Another listing of this store may have recorded the copy since our lookup: then this
    # observation, the newer one, replaces its figures.
    new_copies = new_copies.on_conflict_do_update(
        index_elements=[instances.c.store, instances.c.path],
        set_={
            "state": PRESENT,
            "size_seen": new_copies.excluded.size_seen,
            "mtime_seen": new_copies.excluded.mtime_seen,
            "seen_at": new_copies.excluded.seen_at,
            "swept": new_copies.excluded.swept,
        },
    )
    connection.execute(
        new_copies,
        [
            {
                "file_id": ids[o.entry.name],
                "store": store,
                "path": o.entry.name,
                "state": PRESENT,
                "size_seen": o.entry.size,
                "mtime_seen": o.entry.mtime,
                "seen_at": now,
                "swept": sweep,
                "verified_at": now if o.checksum else None,
                "verified_checksum": _text(o.checksum),
            }
            for o in batch
        ],
    )


def record_changed(
    connection: Connection,
    batch: Sequence[tuple[Known, Observed]],
    now: datetime,
    sweep: str | None,
) -> None:
    """Copies whose size or mtime differ from the record: flag them and follow the new content.

    Bit rot changes neither size nor mtime, so a difference means the file was rewritten on
    purpose: the file's size and checksum follow it (the checksum is unknown until re-hashed),
    and ``changed_at`` shows that it happened. Marks are kept.
    """
    if not batch:
        return
    values = [
        {
            "iid": known.instance_id,
            "size": o.entry.size,
            "mtime": o.entry.mtime,
            "checksum": _text(o.checksum),
            "verified_at": now if o.checksum else None,
        }
        for known, o in batch
    ]
    connection.execute(
        update(instances)
        .where(instances.c.id == bindparam("iid", type_=Integer))
        .values(
            state=PRESENT,
            size_seen=bindparam("size"),
            mtime_seen=bindparam("mtime"),
            changed_at=now,
            seen_at=now,
            swept=sweep,
            verified_at=bindparam("verified_at"),
            verified_checksum=bindparam("checksum", type_=String),
        ),
        values,
    )
    file_of_instance = (
        select(instances.c.file_id).where(instances.c.id == bindparam("iid", type_=Integer))
    ).scalar_subquery()
    connection.execute(
        update(files)
        .where(files.c.id == file_of_instance)
        .values(size=bindparam("size"), checksum=bindparam("checksum", type_=String)),
        values,
    )


def record_reappeared(
    connection: Connection, instance_ids: Sequence[int], now: datetime, sweep: str | None
) -> None:
    """Missing or deleted copies listed again: present once more."""
    if instance_ids:
        connection.execute(
            update(instances)
            .where(instances.c.id.in_(instance_ids))
            .values(state=PRESENT, seen_at=now, swept=sweep)
        )


def record_swept(connection: Connection, instance_ids: Sequence[int], sweep: str) -> None:
    """Stamp copies as listed by ``sweep``; the copies left without its token vanished."""
    if instance_ids:
        connection.execute(
            update(instances).where(instances.c.id.in_(instance_ids)).values(swept=sweep)
        )


def count_listed(connection: Connection, store: str, scope: Scope) -> int:
    """Copies on ``store`` in scope that a complete listing should find."""
    if scope.has_globs:  # globs have no SQL equivalent on both databases: filter here
        return sum(
            1 for _id, path in _listed_rows(connection, store, scope, None) if scope.holds(path)
        )
    query = select(func.count()).select_from(instances).where(*_listed_filter(store, scope, None))
    return int(connection.execute(query).scalar_one())


def not_swept(connection: Connection, store: str, scope: Scope, sweep: str) -> Iterator[list[int]]:
    """Ids of copies in scope that ``sweep`` did not list, in batches: the vanished ones."""
    batch: list[int] = []
    for instance_id, path in _listed_rows(connection, store, scope, sweep):
        if scope.holds(path):
            batch.append(instance_id)
            if len(batch) >= STREAM_BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def mark_missing(connection: Connection, instance_ids: Sequence[int]) -> None:
    connection.execute(
        update(instances).where(instances.c.id.in_(instance_ids)).values(state=MISSING)
    )


def _listed_rows(
    connection: Connection, store: str, scope: Scope, sweep: str | None
) -> Iterator[tuple[int, str]]:
    query = select(instances.c.id, instances.c.path).where(*_listed_filter(store, scope, sweep))
    result = connection.execution_options(yield_per=STREAM_BATCH).execute(query)
    for row in result:
        yield row.id, row.path


def _listed_filter(store: str, scope: Scope, sweep: str | None) -> list[ColumnElement[bool]]:
    conditions = [instances.c.store == store, instances.c.state.in_(LISTED_STATES)]
    if scope.prefixes:
        # substr, not LIKE: names may hold % and _, which LIKE would read as wildcards.
        conditions.append(
            or_(*(func.substr(instances.c.path, 1, len(p) + 1) == f"{p}/" for p in scope.prefixes))
        )
    if sweep is not None:
        conditions.append(or_(instances.c.swept.is_(None), instances.c.swept != sweep))
    return conditions


def _text(checksum: Checksum | None) -> str | None:
    return str(checksum) if checksum is not None else None


def _time(mtime: float | None) -> datetime | None:
    return datetime.fromtimestamp(mtime, UTC) if mtime is not None else None
