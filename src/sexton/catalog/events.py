"""Preservation events: what was done to copies, dated, as PREMIS reports them.

Most of this history is already in the catalog: every fixity check of a copy and what it
found (``fixity_checks``), the hash each present copy got when it was scanned, written or
ingested (``instances.verified_at``, when no check has followed), every transfer to another
site (``transfers``), every repair and every file found lost (``repairs``). What it did not
date is logged in ``preservation_events`` by the code that does it, in the same transaction:
a clone registered, an arrival ingested, a copy deleted. ``events_since`` reads all of them as
one stream of ``PreservationEvent``; a new kind of event is one more ``log`` call where it
happens, or one more source below.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, Row, Select, and_, select, union
from sqlalchemy.sql.elements import ColumnElement

from sexton.db.catalog_tables import (
    files,
    fixity_checks,
    instances,
    preservation_events,
    repairs,
    transfers,
)

from .fixity import MATCH, found_in_words
from .records import PRESENT

# Kinds of event; each becomes a PREMIS eventType (see ``sexton.premis``).
FIXITY: Final = "fixity"
REPLICATION: Final = "replication"  # a verified copy made on another store of this site
INGESTION: Final = "ingestion"  # a verified copy that arrived from elsewhere
TRANSFER: Final = "transfer"  # a copy sent to another site
DELETION: Final = "deletion"
REPAIR: Final = "repair"  # a damaged copy replaced from a verified one; failed: the file is lost

SUCCESS: Final = "success"
FAILURE: Final = "failure"

# Events fetched from the database at a time: an export of a large catalog is streamed.
PAGE = 1000


@dataclass(frozen=True, slots=True)
class PreservationEvent:
    """One thing done to one copy of a file (``name``) on ``store`` (or sent to a site)."""

    identifier: str  # unique within the catalog, stable between exports
    kind: str
    at: datetime
    outcome: str
    name: str
    store: str
    path: str | None
    checksum: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class EventFile:
    """A file some event is about, as the catalog holds it now."""

    name: str
    size: int
    checksum: str | None


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An event to log where it happens, inside that change's transaction."""

    kind: str
    name: str
    store: str
    path: str | None
    checksum: str | None
    file_id: int | None = None
    outcome: str = SUCCESS
    detail: str | None = None


def log(connection: Connection, events: Iterable[LoggedEvent], now: datetime) -> None:
    rows = [
        {
            "at": now,
            "kind": e.kind,
            "outcome": e.outcome,
            "file_id": e.file_id,
            "name": e.name,
            "store": e.store,
            "path": e.path,
            "checksum": e.checksum,
            "detail": e.detail,
        }
        for e in events
    ]
    if rows:
        connection.execute(preservation_events.insert(), rows)


def _after(column: ColumnElement[datetime | None], since: datetime | None) -> ColumnElement[bool]:
    return column.is_not(None) if since is None else column >= since


def files_with_events(connection: Connection, since: datetime | None) -> Iterator[EventFile]:
    """The files that ``events_since`` will name, by name (for PREMIS objects, listed first)."""
    ids = union(
        select(instances.c.file_id)
        .join_from(fixity_checks, instances, fixity_checks.c.instance_id == instances.c.id)
        .where(_after(fixity_checks.c.at, since)),
        select(instances.c.file_id).where(_latest_hash_not_a_check(since)),
        select(transfers.c.file_id).where(
            transfers.c.direction == "outgoing", _after(transfers.c.finished_at, since)
        ),
        select(preservation_events.c.file_id).where(_after(preservation_events.c.at, since)),
        select(repairs.c.file_id).where(_REPAIR_OUTCOMES, _after(repairs.c.at, since)),
    ).subquery()
    query = (
        select(files.c.name, files.c.size, files.c.checksum)
        .where(files.c.id.in_(select(ids.c[0])))
        .order_by(files.c.name)
    )
    for row in _rows(connection, query):
        yield EventFile(row.name, row.size, row.checksum)


def events_since(connection: Connection, since: datetime | None) -> Iterator[PreservationEvent]:
    """Every recorded event from ``since`` on (all of them if None), source by source."""
    yield from _fixity_checks(connection, since)
    yield from _hashed_unchecked(connection, since)
    yield from _transfers(connection, since)
    yield from _repairs(connection, since)
    yield from _logged(connection, since)


def _rows(connection: Connection, query: Select[Any]) -> Iterator[Row[Any]]:
    """The query's rows, fetched ``PAGE`` at a time (a server-side cursor on PostgreSQL)."""
    yield from connection.execution_options(yield_per=PAGE).execute(query)


def _fixity_checks(connection: Connection, since: datetime | None) -> Iterator[PreservationEvent]:
    """Every check of a copy: matched (success), or found it damaged or gone (failure)."""
    checks = fixity_checks.c
    query = (
        select(fixity_checks, files.c.name, instances.c.store, instances.c.path)
        .join_from(fixity_checks, instances, checks.instance_id == instances.c.id)
        .join(files, instances.c.file_id == files.c.id)
        .where(_after(checks.at, since))
        .order_by(checks.at, checks.id)
    )
    for row in _rows(connection, query):
        matched = row.outcome == MATCH
        yield PreservationEvent(
            f"fixity-{row.id}",
            FIXITY,
            row.at,
            SUCCESS if matched else FAILURE,
            row.name,
            row.store,
            row.path,
            row.checksum,
            found_in_words(row.outcome, row.checksum, row.detail),
        )


def _latest_hash_not_a_check(since: datetime | None) -> ColumnElement[bool]:
    """Present copies whose latest hash is not a logged check: the scan, clone, arrival or
    repair that wrote or first read them hashed them, and no check has come since."""
    checked_then = select(fixity_checks.c.id).where(
        fixity_checks.c.instance_id == instances.c.id,
        fixity_checks.c.at == instances.c.verified_at,
    )
    return and_(
        instances.c.state == PRESENT, _after(instances.c.verified_at, since), ~checked_then.exists()
    )


def _hashed_unchecked(
    connection: Connection, since: datetime | None
) -> Iterator[PreservationEvent]:
    """Each such copy's hash, as the fixity event it was before checks were logged."""
    query = (
        select(instances, files.c.name)
        .join_from(instances, files, instances.c.file_id == files.c.id)
        .where(_latest_hash_not_a_check(since))
        .order_by(instances.c.verified_at, instances.c.id)
    )
    for row in _rows(connection, query):
        yield PreservationEvent(
            f"fixity-{row.id}-{row.verified_at:%Y%m%dT%H%M%S}",
            FIXITY,
            row.verified_at,
            SUCCESS,
            row.name,
            row.store,
            row.path,
            row.verified_checksum,
            "hashed as the copy was scanned or written",
        )


def _transfers(connection: Connection, since: datetime | None) -> Iterator[PreservationEvent]:
    """Copies sent to another site that ended: completed (confirmed there) or failed."""
    query = (
        select(transfers)
        .where(
            transfers.c.direction == "outgoing",
            transfers.c.state.in_(("completed", "failed")),
            transfers.c.name.is_not(None),
            _after(transfers.c.finished_at, since),
        )
        .order_by(transfers.c.finished_at, transfers.c.id)
    )
    for row in _rows(connection, query):
        yield PreservationEvent(
            f"transfer-{row.id}",
            TRANSFER,
            row.finished_at,
            SUCCESS if row.state == "completed" else FAILURE,
            row.name,
            row.store or "",
            None,
            row.checksum,
            f"to site {row.site}" + (f": {row.error}" if row.error else ""),
        )


# A repair's `detected` is the failed fixity check already exported from ``fixity_checks``.
_REPAIR_OUTCOMES = repairs.c.event.in_(("repaired", "lost"))


def _repairs(connection: Connection, since: datetime | None) -> Iterator[PreservationEvent]:
    """Damaged copies replaced from a verified copy (success), or found to have none (lost)."""
    query = (
        select(repairs, files.c.name, files.c.checksum, instances.c.path)
        .join_from(repairs, files, repairs.c.file_id == files.c.id)
        .outerjoin(instances, repairs.c.instance_id == instances.c.id)
        .where(_REPAIR_OUTCOMES, _after(repairs.c.at, since))
        .order_by(repairs.c.at, repairs.c.id)
    )
    for row in _rows(connection, query):
        repaired = row.event == "repaired"
        yield PreservationEvent(
            f"repair-{row.id}",
            REPAIR,
            row.at,
            SUCCESS if repaired else FAILURE,
            row.name,
            row.store,
            row.path,
            row.checksum if repaired else None,
            f"{row.detail} copy replaced from {row.source}"
            if repaired
            else f"lost: {row.detail or 'no good copy anywhere'}",
        )


def _logged(connection: Connection, since: datetime | None) -> Iterator[PreservationEvent]:
    logged = preservation_events.c
    query = select(preservation_events).where(_after(logged.at, since))
    for row in _rows(connection, query.order_by(logged.at, logged.id)):
        yield PreservationEvent(
            f"{row.kind}-{row.id}",
            row.kind,
            row.at,
            row.outcome,
            row.name,
            row.store,
            row.path,
            row.checksum,
            row.detail or "",
        )
