"""Local clones: which files a store holds that no destination has yet, and registering a
copy once it has been written and its checksum matched."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, exists, func, select
from sqlalchemy.sql.elements import ColumnElement

from sexton.db.catalog_tables import files, instances

from .fixity import Copy, copies_query, fetch_copies, file_age
from .records import CORRUPT, PRESENT
from .upsert import insert_for

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


def uncloned(
    connection: Connection,
    source: str,
    destinations: Sequence[str],
    created_after: datetime | None,
    limit: int | None,
) -> list[Copy]:
    """Present copies on ``source`` of checksummed files with no copy on any destination,
    oldest file first. Files never hashed are left out: a clone cannot be verified
    against nothing (``unhashed`` counts them)."""
    query = copies_query().where(
        *_uncloned(source, destinations, created_after), files.c.checksum.is_not(None)
    )
    return fetch_copies(connection, query.order_by(files.c.id).limit(limit))


def unhashed(
    connection: Connection, source: str, destinations: Sequence[str], created_after: datetime | None
) -> int:
    """Files the clone would copy but cannot, for want of a checksum."""
    query = (
        select(func.count())
        .select_from(instances.join(files, instances.c.file_id == files.c.id))
        .where(and_(*_uncloned(source, destinations, created_after)), files.c.checksum.is_(None))
    )
    return int(connection.execute(query).scalar_one())


def store_used(connection: Connection, store: str) -> int:
    """Bytes of the copies the catalog holds on ``store``: what ``capacity`` is measured by."""
    query = (
        select(func.coalesce(func.sum(func.coalesce(instances.c.size_seen, files.c.size)), 0))
        .select_from(instances.join(files, instances.c.file_id == files.c.id))
        .where(instances.c.store == store, instances.c.state.in_(HELD_STATES))
    )
    return int(connection.execute(query).scalar_one())


def register_copy(
    connection: Connection,
    original: Copy,
    store: str,
    size: int,
    mtime: float | None,
    now: datetime,
) -> None:
    """Record a verified copy of ``original`` on ``store``, under the file's name.

    Call only after the copy's checksum matched ``original.checksum``. A scan of the
    destination may have listed the new file before this runs, so this upserts on
    (store, path): the scan's row then gains the verification instead of the insert failing.
    """
    new = insert_for(connection, instances)
    verified = {
        "state": PRESENT,
        "size_seen": size,
        "mtime_seen": mtime,
        "seen_at": now,
        "verified_at": now,
        "verified_checksum": original.checksum,
    }
    connection.execute(
        new.values(
            file_id=original.file_id, store=store, path=original.name, **verified
        ).on_conflict_do_update(index_elements=[instances.c.store, instances.c.path], set_=verified)
    )
