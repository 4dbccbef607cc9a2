"""Looking files up: one file with its copies and marks, and listings filtered by store,
state or a missing mark."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Select, and_, select

from sexton.db.catalog_tables import files, instances, marks

from . import fixity, repair
from .marks import FILE_COLUMNS, file_record
from .records import FileDetail, InstanceRecord, ListedFile, MarkRecord

STREAM_BATCH = 1000  # rows fetched at a time by `ls`, which may list millions


def detail(connection: Connection, name: str) -> FileDetail | None:
    row = connection.execute(select(*FILE_COLUMNS).where(files.c.name == name)).first()
    if row is None:
        return None
    copies = connection.execute(
        select(instances).where(instances.c.file_id == row.id).order_by(instances.c.store)
    )
    flags = connection.execute(
        select(marks.c.name, marks.c.value, marks.c.marked_at)
        .where(marks.c.file_id == row.id)
        .order_by(marks.c.name, marks.c.value)
    )
    return FileDetail(
        file_record(row),
        tuple(
            InstanceRecord(
                c.store,
                c.path,
                c.state,
                c.deletion_policy,
                c.size_seen,
                c.mtime_seen,
                c.changed_at,
                c.verified_at,
                c.verified_checksum,
            )
            for c in copies
        ),
        tuple(MarkRecord(m.name, m.value, m.marked_at) for m in flags),
        tuple(repair.history(connection, row.id)),
        tuple(fixity.latest_checks(connection, row.id)),
    )


def listing_query(
    store: str | None, state: str | None, lacking: Select[Any] | None, limit: int | None
) -> Select[Any]:
    """One row per copy (or per file without copies), by name; ``lacking`` is a needs query
    whose files are kept."""
    on = instances.c.file_id == files.c.id
    if store is not None:
        on = and_(on, instances.c.store == store)
    outer = store is None and state is None  # a file without copies still shows up
    query = select(*FILE_COLUMNS, instances.c.store, instances.c.path, instances.c.state)
    query = query.select_from(files.join(instances, on, isouter=outer))
    if state is not None:
        query = query.where(instances.c.state == state)
    if lacking is not None:
        query = query.where(files.c.id.in_(lacking.with_only_columns(files.c.id)))
    return query.order_by(files.c.name, instances.c.store).limit(limit)


def listed(connection: Connection, query: Select[Any]) -> Iterator[ListedFile]:
    for row in connection.execution_options(yield_per=STREAM_BATCH).execute(query):
        yield ListedFile(file_record(row), row.store, row.path, row.state)
