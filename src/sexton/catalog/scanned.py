"""Recording what a listing saw, one batch per transaction.

Each function is one or two statements over a whole batch: per-row round trips would make a
million-file scan take hours. Listings of the same store may run concurrently (two scan tasks
with overlapping prefixes, a scan and an import), so inserts use ``ON CONFLICT`` instead of
check-then-insert, which would let both sides insert and one fail on the unique constraint.
On PostgreSQL a batch first tries plain inserts, cheaper when nothing conflicts, and falls
back to ``ON CONFLICT`` when something does (see ``add_new``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Integer,
    String,
    and_,
    bindparam,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from sexton.checksums import Checksum
from sexton.db.catalog_tables import files, instances
from sexton.stores import EntryInfo

from .records import CORRUPT, MISSING, PRESENT
from .scope import Scope

# Rows fetched at a time when streaming a store's instances (missing detection).
STREAM_BATCH = 5000
# States of a copy that a listing expects to find; missing and deleted ones it does not.
LISTED_STATES = (PRESENT, CORRUPT)


class Known(NamedTuple):
    """What the catalog already holds about one listed name on this store.

    A named tuple, not a dataclass: a rescan makes one per file, straight from a row.
    """

    path: str
    instance_id: int
    size: int | None
    mtime: float | None
    state: str


class Observed(NamedTuple):
    """A listed file with its checksum, if it was hashed during the scan."""

    entry: EntryInfo
    checksum: Checksum | None


def holds_copies(connection: Connection, store: str) -> bool:
    """Whether the catalog holds any copy on ``store``, in any state."""
    query = select(instances.c.id).where(instances.c.store == store).limit(1)
    return connection.execute(query).first() is not None


def known_instances(connection: Connection, store: str, names: Sequence[str]) -> dict[str, Known]:
    """The catalog's record of each name on ``store``: one indexed lookup for the batch.

    A rescan that finds many new files sends them here while their copies are too new for
    the planner's statistics, so PostgreSQL probes (store, path) name by name (see
    ``_by_path``). A store's first scan skips this lookup.
    """
    columns = "path, id, size_seen, mtime_seen, state"
    rows = _by_path(connection, columns, store, names, probe_each=True)
    return {row[0]: Known._make(row) for row in rows}


# (name, size, mtime) as recorded: equal to the EntryInfo of a file listed unchanged.
Recorded = set[tuple[str, int | None, float | None]]


def listed_as_recorded(connection: Connection, store: str, names: Sequence[str]) -> Recorded:
    """(name, size, mtime) of each of ``names`` on ``store``, as the catalog holds them: the
    rows compare equal to the ``EntryInfo`` of a file listed unchanged, so a rescan finds its
    unchanged files with a set intersection instead of a loop in Python.

    A copy not expected in a listing (missing, deleted) gets no size, so it equals no listed
    file. The state is tested in the select list, not the filter, which would lead the
    planners to the (store, state, verified_at) index and a read of every copy on the store.
    """
    states = ", ".join(f"'{state}'" for state in LISTED_STATES)
    columns = f"path, CASE WHEN state IN ({states}) THEN size_seen END, mtime_seen"
    return set(_by_path(connection, columns, store, names, probe_each=False))


# The names as one JSON text: psycopg adapts a list item by item in Python, which costs more
# than the lookup. One index scan for all the names: the rescan's lookup, on a store the
# planner has statistics for.
_PG_BY_PATH = """
SELECT {columns} FROM instances
WHERE store = %(store)s AND path = ANY(ARRAY(SELECT json_array_elements_text(%(names)s::json)))
"""
# One probe of (store, path) per name, fenced off by OFFSET 0. Without statistics for the
# store (its first scan), the planner took the copies of the store from a (store, ...) index
# and tested each against the whole array, which grows with the store per batch: 2 s a batch
# at 20,000 copies. Slower than the above once analysed: 1.1-1.2 s against 0.8-0.9 s per
# 200,000 names.
_PG_BY_PATH_EACH = """
SELECT i.* FROM json_array_elements_text(%(names)s::json) AS n(name),
LATERAL (SELECT {columns} FROM instances WHERE store = %(store)s AND path = n.name OFFSET 0) i
"""


def _by_path(
    connection: Connection, columns: str, store: str, names: Sequence[str], *, probe_each: bool
) -> list[Any]:
    """``columns`` of the instances of ``names`` on ``store``, one query for all.

    Sent through the driver: a rescan is this query and little else, and SQLAlchemy's
    per-parameter and per-row processing would cost more than the database's work.
    ``probe_each``: on PostgreSQL, look each name up on its own (``_PG_BY_PATH_EACH``).
    """
    cursor = _driver(connection).cursor()
    try:
        if connection.dialect.name == "postgresql":
            query = _PG_BY_PATH_EACH if probe_each else _PG_BY_PATH
            cursor.execute(
                query.format(columns=columns), {"store": store, "names": json.dumps(names)}
            )
        else:
            marks = ", ".join("?" * len(names))
            cursor.execute(
                f"SELECT {columns} FROM instances WHERE store = ? AND path IN ({marks})",
                (store, *names),
            )
        return cursor.fetchall()  # type: ignore[no-any-return]
    finally:
        cursor.close()


# (name, size, checksum, mtime, whole seconds of the mtime, microseconds)
_NewRow = tuple[str, int, str | None, float | None, int | None, int | None]


class NewCopies(NamedTuple):
    """Files first listed now, with their copy, ready for the driver: made before the batch's
    transaction, so that a first scan converts the next batch while the server inserts this."""

    rows: list[_NewRow]  # in name order
    copy_text: bytes | None  # the rows in the text format of COPY (PostgreSQL)


def new_copies(batch: Sequence[Observed], dialect: str) -> NewCopies:
    """``batch`` converted for ``add_new`` on a database of ``dialect``.

    A file's mtime becomes ``created_at`` in SQL, from whole seconds and microseconds, exactly
    as ``UTCDateTime`` would store it, so no row needs a ``datetime``.
    """
    # In name order, so that neighbouring entries of the name indexes are written together:
    # a listing's own order scatters them over the whole index, a page read for each.
    rows = sorted(
        [
            (o.entry.name, o.entry.size, _text(o.checksum), o.entry.mtime, *_split(o.entry.mtime))
            for o in batch
        ],
        key=itemgetter(0),
    )
    return NewCopies(rows, _copy_text(rows) if dialect == "postgresql" else None)


def add_new(
    connection: Connection,
    store: str,
    batch: NewCopies,
    now: datetime,
    source: str,
    sweep: str | None,
    *,
    expect_conflicts: bool = True,
) -> bool:
    """Catalog files first listed now, and their copy on ``store``; True if the batch was
    merged with ``ON CONFLICT``.

    The first scan of a store is almost nothing but this, so rows go to the driver already
    converted into a temporary table (SQLite: ``executemany``; PostgreSQL: ``COPY``), then one
    ``INSERT ... SELECT`` per table (on PostgreSQL, one for both while nothing conflicts), in
    the caller's transaction.

    Unless ``expect_conflicts``, PostgreSQL first tries plain inserts in a savepoint: a
    million new files then took 4.5 s less than through ``ON CONFLICT``, whose speculative
    insertion checks the unique index before inserting and logs a confirmation per row. A
    name already there undoes the savepoint and the batch is merged; callers then expect
    conflicts for the rest of their listing.
    """
    if not batch.rows:
        return False
    stamp = _bound(connection, now)
    if batch.copy_text is not None:
        return _add_new_postgresql(
            connection, store, batch.copy_text, stamp, source, sweep, expect_conflicts
        )
    _add_new_sqlite(connection, store, batch.rows, stamp, source, sweep)
    return True  # SQLite always merges


# COPY's text format: columns split by tabs, rows by newlines, NULL written \N; these four
# characters stand for themselves only escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_COPY_NULL = "\\N"


def _copy_text(rows: list[_NewRow]) -> bytes:
    """The rows as ``COPY ... FROM STDIN`` reads them. Made here rather than by psycopg's
    ``write_row`` inside the transaction, which cost a tenth of a first scan's time there."""
    lines = []
    for name, size, checksum, mtime, whole, micros in rows:
        if "\\" in name or "\n" in name or "\r" in name or "\t" in name:
            name = name.translate(_COPY_ESCAPES)
        if mtime is None:
            times = f"{_COPY_NULL}\t{_COPY_NULL}\t{_COPY_NULL}"
        else:
            times = f"{mtime!r}\t{whole}\t{micros}"
        lines.append(f"{name}\t{size}\t{checksum or _COPY_NULL}\t{times}\n")
    return "".join(lines).encode()


# The batch waits in a temporary table while one statement per table moves it: each row's
# values are bound once instead of once per table, and SQLite then works without stepping
# back into Python per row. Inserting a million new files: 26.7 s -> 14.9 s. Kept per
# connection, emptied by each batch.
_SQLITE_BATCH_TABLE = """
CREATE TEMPORARY TABLE IF NOT EXISTS scan_batch (
    name TEXT NOT NULL, size INTEGER NOT NULL, checksum TEXT,
    mtime REAL, whole INTEGER, micros INTEGER
)
"""
# A file of that name may already be catalogued (a copy on another store, or a concurrent
# scan): the existing row wins, and only gains the checksum if it had none. (The WHERE
# resolves SQLite's INSERT ... SELECT ... ON CONFLICT parsing ambiguity.) ``created_at`` is
# spelt with datetime() and substr(), the same text as strftime() and printf() in 0.6 of the
# time: 0.85 s less per million files.
_SQLITE_NEW_FILES = """
INSERT INTO files (name, size, checksum, created_at, ingested_at, source)
SELECT name, size, checksum,
       datetime(whole, 'unixepoch') || '.' || substr(1000000 + micros, 2), ?, ?
FROM temp.scan_batch WHERE true
ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum
WHERE files.checksum IS NULL AND excluded.checksum IS NOT NULL
"""
# Another listing of this store may have recorded the copy since our lookup: then this
# observation, the newer one, replaces its figures.
_SQLITE_NEW_COPIES = """
INSERT INTO instances (store, path, state, size_seen, mtime_seen, seen_at, swept,
                       verified_at, verified_checksum, file_id)
SELECT ?, b.name, ?, b.size, b.mtime, ?, ?, CASE WHEN b.checksum IS NULL THEN NULL ELSE ? END,
       b.checksum, f.id
FROM temp.scan_batch b JOIN files f ON f.name = b.name WHERE true
ON CONFLICT (store, path) DO UPDATE SET state = excluded.state, size_seen = excluded.size_seen,
    mtime_seen = excluded.mtime_seen, seen_at = excluded.seen_at, swept = excluded.swept
"""


def _add_new_sqlite(
    connection: Connection,
    store: str,
    rows: list[_NewRow],
    now: Any,
    source: str,
    sweep: str | None,
) -> None:
    cursor = _driver(connection).cursor()
    try:
        cursor.execute(_SQLITE_BATCH_TABLE)
        cursor.executemany("INSERT INTO temp.scan_batch VALUES (?, ?, ?, ?, ?, ?)", rows)
        cursor.execute(_SQLITE_NEW_FILES, (now, source))
        cursor.execute(_SQLITE_NEW_COPIES, (store, PRESENT, now, sweep, now))
        cursor.execute("DELETE FROM temp.scan_batch")
    finally:
        cursor.close()


# Made once per pooled connection and emptied by each commit (ON COMMIT DELETE ROWS): made
# and dropped per batch (ON COMMIT DROP), it wrote and deleted rows of the system catalogs
# every 5,000 files.
_PG_BATCH_TABLE = """
CREATE TEMPORARY TABLE IF NOT EXISTS scan_batch (
    name text NOT NULL, size bigint NOT NULL, checksum text,
    mtime double precision, whole bigint, micros integer
) ON COMMIT DELETE ROWS
"""
# ORDER BY name: two scans inserting overlapping names take the unique index's row locks in
# the same order, so they queue instead of deadlocking.
_PG_INSERT_FILES = """
INSERT INTO files (name, size, checksum, created_at, ingested_at, source)
SELECT name, size, checksum,
       (to_timestamp(whole) AT TIME ZONE 'UTC') + micros * interval '1 microsecond',
       %(now)s, %(source)s
FROM scan_batch ORDER BY name
"""
# A subquery, not a join: the temporary table has no statistics, and the planner would hash
# the whole files table for every batch instead of probing its name index.
_PG_INSERT_COPIES = """
INSERT INTO instances (file_id, store, path, state, size_seen, mtime_seen, seen_at, swept,
                       verified_at, verified_checksum)
SELECT (SELECT id FROM files WHERE name = b.name), %(store)s, b.name, %(state)s, b.size,
       b.mtime, %(now)s, %(sweep)s, CASE WHEN b.checksum IS NULL THEN NULL ELSE %(now)s END,
       b.checksum
FROM scan_batch b ORDER BY b.name
"""
# Nothing catalogued yet under these names: both inserts in one statement, the copies taking
# their file's id from the files inserted rather than probing the name index once each.
_PG_INSERT_NEW = f"""
WITH new AS ({_PG_INSERT_FILES} RETURNING id, name)
INSERT INTO instances (file_id, store, path, state, size_seen, mtime_seen, seen_at, swept,
                       verified_at, verified_checksum)
SELECT new.id, %(store)s, b.name, %(state)s, b.size,
       b.mtime, %(now)s, %(sweep)s, CASE WHEN b.checksum IS NULL THEN NULL ELSE %(now)s END,
       b.checksum
FROM scan_batch b JOIN new ON new.name = b.name ORDER BY b.name
"""
# On conflict, as for SQLite above.
_PG_UPSERT_FILES = (
    _PG_INSERT_FILES
    + """ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum
WHERE files.checksum IS NULL AND EXCLUDED.checksum IS NOT NULL
"""
)
_PG_UPSERT_COPIES = (
    _PG_INSERT_COPIES
    + """ON CONFLICT (store, path) DO UPDATE SET state = EXCLUDED.state,
    size_seen = EXCLUDED.size_seen, mtime_seen = EXCLUDED.mtime_seen, seen_at = EXCLUDED.seen_at,
    swept = EXCLUDED.swept
"""
)


def _add_new_postgresql(
    connection: Connection,
    store: str,
    copy_text: bytes,
    now: Any,
    source: str,
    sweep: str | None,
    expect_conflicts: bool,
) -> bool:
    # Here, not at the top: psycopg takes 0.12 s and 25 MB to import, which SQLite users and
    # every `sexton` command that never writes a scan would pay.
    from psycopg.errors import UniqueViolation

    files_params = {"now": now, "source": source}
    copies_params = {"store": store, "state": PRESENT, "now": now, "sweep": sweep}
    with _driver(connection).cursor() as cursor:
        cursor.execute(_PG_BATCH_TABLE)
        with cursor.copy("COPY scan_batch FROM STDIN") as copy:
            copy.write(copy_text)
        if not expect_conflicts:
            try:
                with connection.begin_nested():
                    cursor.execute(_PG_INSERT_NEW, {**files_params, **copies_params})
                return False
            except UniqueViolation:
                pass  # the savepoint is undone: insert the batch again, merging
        cursor.execute(_PG_UPSERT_FILES, files_params)
        cursor.execute(_PG_UPSERT_COPIES, copies_params)
        return True


def analyse_copies(connection: Connection) -> None:
    """Let PostgreSQL's planner learn of a store's copies, after its first listing.

    Without statistics for the store, a rescan's lookups read every copy of the store for
    each batch (20,000 copies rescanned in 11.4 s, 0.33 s once analysed), until autovacuum,
    if it runs, analyses the table. Costs 33 ms at 20,000 copies. A role that does not own
    the table gets a warning, not an error.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("ANALYZE instances (store, path)")


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


def listed_paths(connection: Connection, store: str, scope: Scope) -> Iterator[str]:
    """Names of the copies on ``store`` in scope that a listing should find, streamed."""
    for _id, path in _listed_rows(connection, store, scope, None):
        if scope.holds(path):
            yield path


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
    if scope.prefixes or scope.direct:
        conditions.append(or_(*(_under(p, scope.direct) for p in scope.prefixes or ("",))))
    if sweep is not None:
        conditions.append(or_(instances.c.swept.is_(None), instances.c.swept != sweep))
    return conditions


def _under(prefix: str, direct: bool) -> ColumnElement[bool]:
    """Copies under directory ``prefix`` ("": the root), only those directly in it if
    ``direct`` (as ``Scope.holds`` says)."""
    path = instances.c.path
    conditions = []
    if prefix:  # substr, not LIKE: names may hold % and _, which LIKE would read as wildcards
        conditions.append(func.substr(path, 1, len(prefix) + 1) == f"{prefix}/")
    if direct:  # here the name is LIKE's subject, not its pattern: no wildcard to fear
        conditions.append(~func.substr(path, len(prefix) + 2 if prefix else 1).like("%/%"))
    return and_(true(), *conditions)


def _text(checksum: Checksum | None) -> str | None:
    return str(checksum) if checksum is not None else None


def _bound(connection: Connection, moment: datetime) -> Any:
    """A time as this database's driver takes it for a ``UTCDateTime`` column."""
    dialect = connection.dialect
    process = instances.c.seen_at.type.dialect_impl(dialect).bind_processor(dialect)
    return process(moment) if process is not None else moment


def _split(mtime: float | None) -> tuple[int, int] | tuple[None, None]:
    """Whole seconds and microseconds, rounded as ``datetime.fromtimestamp`` rounds."""
    if mtime is None:
        return None, None
    whole = math.floor(mtime)
    micros = round((mtime - whole) * 1_000_000)
    if micros == 1_000_000:
        return whole + 1, 0
    return whole, micros


def _driver(connection: Connection) -> Any:
    """The DBAPI connection under ``connection``, in its transaction (sqlite3 or psycopg)."""
    return connection.connection.driver_connection
