"""Repair: which copies are damaged, which other copies may replace them, and the history of
each repair (detected, repaired from a store or a site, lost).

A source vouches for a repair the way a copy vouches for a deletion (``deletion.vouching``):
present, its verified checksum equal to the file's, verified within the policy window; a
remote copy once its site confirmed the file's checksum within the window. A file is
**lost** when no local copy is present with a verified checksum equal to the file's and no
site has confirmed one: there is nothing left to repair it from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, exists, select, update

from sexton.db.catalog_tables import files, instances, remote_instances, repairs

from .fixity import Copy, copies_query, fetch_copies
from .records import CORRUPT, MISSING, PRESENT, RepairRecord

DAMAGED_STATES = (CORRUPT, MISSING)
DETECTED = "detected"
REPAIRED = "repaired"
LOST = "lost"
EVENTS = (DETECTED, REPAIRED, LOST)


@dataclass(frozen=True, slots=True)
class Damaged:
    """A copy to repair, and what is wrong with it (``corrupt`` or ``missing``)."""

    copy: Copy
    state: str


@dataclass(frozen=True, slots=True)
class RemoteSource:
    """A copy another site confirmed with the file's checksum."""

    site: str
    store: str
    confirmed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Sources:
    """Where a damaged copy may be repaired from, best first (most recently verified)."""

    local: tuple[Copy, ...]
    remote: tuple[RemoteSource, ...]


def damaged_copies(
    connection: Connection,
    stores: Sequence[str],
    after_id: int,
    limit: int,
    upto_id: int | None = None,
) -> list[Damaged]:
    """Corrupt or missing copies on ``stores`` of files with a checksum, by instance id after
    ``after_id`` (a keyset, so a run pages through a large store), none beyond ``upto_id``."""
    query = (
        copies_query()
        .add_columns(instances.c.state)
        .where(
            instances.c.store.in_(stores),
            instances.c.state.in_(DAMAGED_STATES),
            instances.c.id > after_id,
            files.c.checksum.is_not(None),
        )
        .order_by(instances.c.id)
        .limit(limit)
    )
    if upto_id is not None:
        query = query.where(instances.c.id <= upto_id)
    return [Damaged(Copy(*row[:-1]), row[-1]) for row in connection.execute(query)]


def sources(connection: Connection, damaged: Copy, fresh_after: datetime) -> Sources:
    """The copies that may replace ``damaged``: verified with the file's checksum since
    ``fresh_after``, on another store or at another site."""
    local = copies_query().where(
        instances.c.file_id == damaged.file_id,
        instances.c.id != damaged.instance_id,
        instances.c.state == PRESENT,
        instances.c.verified_checksum == files.c.checksum,  # NULL on either side never matches
        instances.c.verified_at >= fresh_after,
    )
    remote = (
        select(remote_instances.c.site, remote_instances.c.store, remote_instances.c.confirmed_at)
        .join_from(remote_instances, files, remote_instances.c.file_id == files.c.id)
        .where(
            remote_instances.c.file_id == damaged.file_id,
            remote_instances.c.checksum == files.c.checksum,
            remote_instances.c.confirmed_at >= fresh_after,
        )
        .order_by(remote_instances.c.confirmed_at.desc())
    )
    return Sources(
        tuple(fetch_copies(connection, local.order_by(instances.c.verified_at.desc()))),
        tuple(RemoteSource(*row) for row in connection.execute(remote)),
    )


def is_lost(connection: Connection, file_id: int) -> bool:
    """True when no good copy of the file is left anywhere, however old its verification."""
    good_local = exists().where(
        instances.c.file_id == files.c.id,
        instances.c.state == PRESENT,
        instances.c.verified_checksum == files.c.checksum,
    )
    good_remote = exists().where(
        remote_instances.c.file_id == files.c.id,
        remote_instances.c.checksum == files.c.checksum,
    )
    query = select(~good_local & ~good_remote).where(files.c.id == file_id)
    return bool(connection.execute(query).scalar_one())


def verified_copy(connection: Connection, name: str) -> Copy | None:
    """The most recently verified present copy of ``name`` whose verified checksum is the
    file's: what this site hands another that repairs from it."""
    query = copies_query().where(
        files.c.name == name,
        instances.c.state == PRESENT,
        instances.c.verified_checksum == files.c.checksum,
    )
    found = fetch_copies(connection, query.order_by(instances.c.verified_at.desc()).limit(1))
    return found[0] if found else None


def last_event(connection: Connection, instance_id: int) -> str | None:
    query = (
        select(repairs.c.event)
        .where(repairs.c.instance_id == instance_id)
        .order_by(repairs.c.id.desc())
        .limit(1)
    )
    return connection.execute(query).scalar_one_or_none()


def record_event(
    connection: Connection,
    damaged: Damaged,
    event: str,
    now: datetime,
    run_id: int | None,
    source: str | None = None,
    detail: str | None = None,
) -> None:
    """One line of the copy's repair history; a copy already `lost` is not recorded lost again
    by every run that finds it so, nor `detected` again before it is repaired."""
    if event in (DETECTED, LOST) and last_event(connection, damaged.copy.instance_id) in (
        event,
        LOST,
    ):
        return
    connection.execute(
        repairs.insert().values(
            file_id=damaged.copy.file_id,
            instance_id=damaged.copy.instance_id,
            store=damaged.copy.store,
            event=event,
            source=source,
            detail=detail or damaged.state,
            run_id=run_id,
            at=now,
        )
    )


def record_repaired(
    connection: Connection,
    damaged: Damaged,
    source: str,
    mtime: float | None,
    now: datetime,
    run_id: int | None,
) -> None:
    """The copy was rewritten and its checksum matched the file's as written: present and
    verified now. Its ``corrupt_files`` row stays, the damage's history."""
    copy = damaged.copy
    connection.execute(
        update(instances)
        .where(instances.c.id == copy.instance_id)
        .values(
            state=PRESENT,
            size_seen=copy.size,
            mtime_seen=mtime,
            seen_at=now,
            verified_at=now,
            verified_checksum=copy.checksum,
        )
    )
    record_event(connection, damaged, REPAIRED, now, run_id, source=source)


def history(connection: Connection, file_id: int) -> list[RepairRecord]:
    query = (
        select(repairs.c.event, repairs.c.store, repairs.c.source, repairs.c.detail, repairs.c.at)
        .where(repairs.c.file_id == file_id)
        .order_by(repairs.c.id)
    )
    return [RepairRecord(*row) for row in connection.execute(query)]
