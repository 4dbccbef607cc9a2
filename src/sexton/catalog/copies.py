"""Local clones: which files a store holds that no destination has yet, and registering a
copy once it has been written and its checksum matched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    and_,
    bindparam,
    exists,
    func,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from sexton.db.catalog_tables import files, instances

from . import events
from .fixity import Copy, copies_query, fetch_copies, file_age
from .records import CORRUPT, PRESENT
from .upsert import insert_in

# A destination copy in these states is still on the drive: cloning again would collide
# with it. A missing or deleted one is gone, so the file is cloned anew.
HELD_STATES = (PRESENT, CORRUPT)


def _uncloned(
    source: str, destinations: Sequence[str], created_after: datetime | None
) -> list[ColumnElement[bool]]:
    elsewhere = instances.alias("elsewhere")
    on_destination = exists().where(
        elsewhere.c.file_id == instances.c.file_id,
        elsewhere.c.store.in_(destinations),
        elsewhere.c.state.in_(HELD_STATES),
    )
    conditions = [instances.c.store == source, instances.c.state == PRESENT, ~on_destination]
    if created_after is not None:
        conditions.append(file_age(created_after))
    return conditions


# Where a page of uncloned copies ended: (file id, instance id), their order.
FileKey = tuple[int, int]


def file_key(copy: Copy) -> FileKey:
    return (copy.file_id, copy.instance_id)


def uncloned(
    connection: Connection,
    source: str,
    destinations: Sequence[str],
    created_after: datetime | None,
    after: FileKey | None,
    limit: int,
) -> list[Copy]:
    """The next ``limit`` present copies on ``source`` of checksummed files with no copy on
    any destination, oldest file first, after the key ``after``. Files never hashed are left
    out: a clone cannot be verified against nothing (``unhashed`` counts them)."""
    query = copies_query().where(*_uncloned(source, destinations, created_after), _hashed())
    if after is not None:
        query = query.where(tuple_(files.c.id, instances.c.id) > tuple_(*after))
    return fetch_copies(connection, query.order_by(files.c.id, instances.c.id).limit(limit))


def _id_range(after_id: int | None, upto_id: int | None) -> list[ColumnElement[bool]]:
    bounds = []
    if after_id is not None:
        bounds.append(instances.c.id > after_id)
    if upto_id is not None:
        bounds.append(instances.c.id <= upto_id)
    return bounds


def uncloned_in_id_order(
    source: str, destinations: Sequence[str], created_after: datetime | None
) -> Select[int]:
    """Ids of the copies ``uncloned`` pages through, in id order: what a fanned-out clone
    cuts into shards (id order, so that each shard is a range a worker selects again)."""
    query = (
        select(instances.c.id)
        .join_from(instances, files, instances.c.file_id == files.c.id)
        .where(*_uncloned(source, destinations, created_after), _hashed())
    )
    return query.order_by(instances.c.id)


def uncloned_between(
    connection: Connection,
    source: str,
    destinations: Sequence[str],
    created_after: datetime | None,
    after_id: int | None,
    upto_id: int | None,
) -> list[Copy]:
    """The copies of one shard, ids in ``(after_id, upto_id]``, still uncloned: a copy made
    before a shard was claimed again is no longer among them."""
    query = copies_query().where(
        *_uncloned(source, destinations, created_after), _hashed(), *_id_range(after_id, upto_id)
    )
    return fetch_copies(connection, query.order_by(instances.c.id))


def count_uncloned(
    connection: Connection,
    source: str,
    destinations: Sequence[str],
    created_after: datetime | None,
    limit: int | None,
) -> int:
    """How many copies ``uncloned`` will page through (at most ``limit``): a run's total."""
    query = _count(_uncloned(source, destinations, created_after) + [_hashed()], limit)
    return int(connection.execute(query).scalar_one())


def unhashed(
    connection: Connection, source: str, destinations: Sequence[str], created_after: datetime | None
) -> int:
    """Files the clone would copy but cannot, for want of a checksum."""
    conditions = _uncloned(source, destinations, created_after) + [files.c.checksum.is_(None)]
    return int(connection.execute(_count(conditions, None)).scalar_one())


def _hashed() -> ColumnElement[bool]:
    return files.c.checksum.is_not(None)


def _count(conditions: list[ColumnElement[bool]], limit: int | None) -> Select[int]:
    """Copies matching ``conditions`` (with their files joined), at most ``limit``."""
    matching = (
        select(instances.c.id)
        .select_from(instances.join(files, instances.c.file_id == files.c.id))
        .where(and_(*conditions))
        .limit(limit)
    )
    return select(func.count()).select_from(matching.subquery())


@dataclass(frozen=True)
class VerifiedCopy:
    """A copy written to ``store`` whose checksum matched the file's: ready to be recorded."""

    original: Copy
    store: str
    mtime: float | None  # as the destination reports it


@cache
def _register_statement(dialect: str) -> Any:
    """The upsert that records one verified copy, built once per database with bound
    parameters: rebuilt with its values inline for every copy, SQLAlchemy cost more than the
    database when a clone recorded thousands of small files."""
    verified = {
        "state": PRESENT,
        "size_seen": bindparam("size_seen"),
        "mtime_seen": bindparam("mtime_seen"),
        "seen_at": bindparam("now"),
        "verified_at": bindparam("now"),
        "verified_checksum": bindparam("checksum"),
    }
    return (
        insert_in(dialect, instances)
        .values(
            file_id=bindparam("file_id"),
            store=bindparam("store"),
            path=bindparam("path"),
            **verified,
        )
        .on_conflict_do_update(index_elements=[instances.c.store, instances.c.path], set_=verified)
    )


def register_copies(
    connection: Connection, verified: Sequence[VerifiedCopy], now: datetime
) -> None:
    """Record copies whose checksums matched their files', each under its file's name.

    Call only after each copy's checksum matched ``original.checksum``. A scan of the
    destination may have listed a new file before this runs, so this upserts on
    (store, path): the scan's row then gains the verification instead of the insert failing.
    """
    connection.execute(
        _register_statement(connection.dialect.name),
        [
            {
                "file_id": copy.original.file_id,
                "store": copy.store,
                "path": copy.original.name,
                "size_seen": copy.original.size,
                "mtime_seen": copy.mtime,
                "now": now,
                "checksum": copy.original.checksum,
            }
            for copy in verified
        ],
    )
    events.log(
        connection,
        (
            events.LoggedEvent(
                events.REPLICATION,
                copy.original.name,
                copy.store,
                copy.original.name,
                copy.original.checksum,
                copy.original.file_id,
                detail=f"copied from store {copy.original.store}",
            )
            for copy in verified
        ),
        now,
    )


def move_under(connection: Connection, store: str, prefix: str) -> int:
    """Record that every copy on ``store`` now lives under ``prefix``: a drive made a BagIt
    bag has had its files moved into ``data/``. Returns the copies moved."""
    moved = connection.execute(
        update(instances)
        .where(instances.c.store == store)
        .values(path=literal(prefix) + instances.c.path)
    )
    return moved.rowcount
