"""Files that arrive with their checksum already known: a SneakerNet drive's files, a copy
from another site, a backup Sexton just wrote.

Such a file is registered with its verified copy in one transaction, after the copy was
written and its checksum matched (DESIGN §5, invariant 2). The file's name is its identity
across sites, so an arrival whose name the catalog holds with another size or checksum is a
conflict, never a silent replacement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, select, update

from sexton.db.catalog_tables import files, instances

from . import events
from .errors import CatalogError
from .records import PRESENT
from .upsert import insert_for

# The instance column's values; the librarian's config spells them DISALLOWED / ALLOWED.
DISALLOWED = "disallowed"
ALLOWED = "allowed"
DELETION_POLICIES = (DISALLOWED, ALLOWED)

# What the catalog already holds of an arriving file on the store it is meant for.
Standing = Literal["new", "held", "conflict"]


class ArrivalConflict(CatalogError):
    """The catalog holds a file of that name with another size or checksum."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """A copy written to ``store`` at ``path`` whose checksum matched ``checksum``."""

    name: str
    size: int
    checksum: str  # ``algo:hex``, as the sender recorded it
    store: str
    path: str
    source: str  # how it came in: "sneakernet:SITE", "backup:TASK", ...
    deletion_policy: str = DISALLOWED
    mtime: float | None = None  # of the copy, as the store reports it
    created_at: datetime | None = None  # when the file came into being, if the sender knew


def deletion_policy(text: str) -> str:
    """The stored spelling of a deletion policy (``DISALLOWED`` or ``ALLOWED``, any case)."""
    value = text.strip().lower()
    if value not in DELETION_POLICIES:
        raise CatalogError(f"bad deletion policy {text!r}: expected DISALLOWED or ALLOWED")
    return value


def standing(connection: Connection, name: str, size: int, checksum: str, store: str) -> Standing:
    """``held`` when a present copy on ``store`` is verified with this checksum, ``conflict``
    when the catalog knows the name with another size or checksum, else ``new``."""
    file = connection.execute(
        select(files.c.id, files.c.size, files.c.checksum).where(files.c.name == name)
    ).first()
    if file is None:
        return "new"
    if _disagrees(file.size, file.checksum, size, checksum):
        return "conflict"
    held = connection.execute(
        select(instances.c.id).where(
            instances.c.file_id == file.id,
            instances.c.store == store,
            instances.c.state == PRESENT,
            instances.c.verified_checksum == checksum,
        )
    ).first()
    return "held" if held is not None else "new"


def ingest(connection: Connection, arrival: Arrival, now: datetime) -> int:
    """Register the file (unless known) and its verified copy; returns the file's id.

    Raises ``ArrivalConflict``, writing nothing, when the name is known with another size or
    checksum. A file known without a checksum (scanned, never hashed) takes the arrival's.
    The copy is upserted on (store, path): a scan may have listed it first.
    """
    connection.execute(
        insert_for(connection, files)
        .values(
            name=arrival.name,
            size=arrival.size,
            checksum=arrival.checksum,
            created_at=arrival.created_at,
            ingested_at=now,
            source=arrival.source,
        )
        .on_conflict_do_nothing(index_elements=[files.c.name])
    )
    file = connection.execute(
        select(files.c.id, files.c.size, files.c.checksum)
        .where(files.c.name == arrival.name)
        .with_for_update()
    ).one()
    if _disagrees(file.size, file.checksum, arrival.size, arrival.checksum):
        raise ArrivalConflict(
            f"{arrival.name!r} is already in the catalog with {file.size} bytes and checksum "
            f"{file.checksum}; the arriving copy has {arrival.size} bytes and {arrival.checksum}"
        )
    if file.checksum is None:
        connection.execute(
            update(files).where(files.c.id == file.id).values(checksum=arrival.checksum)
        )
    copy = {
        "state": PRESENT,
        "deletion_policy": arrival.deletion_policy,
        "size_seen": arrival.size,
        "mtime_seen": arrival.mtime,
        "seen_at": now,
        "verified_at": now,
        "verified_checksum": arrival.checksum,
    }
    connection.execute(
        insert_for(connection, instances)
        .values(file_id=file.id, store=arrival.store, path=arrival.path, **copy)
        .on_conflict_do_update(index_elements=[instances.c.store, instances.c.path], set_=copy)
    )
    arrived = events.LoggedEvent(
        events.INGESTION,
        arrival.name,
        arrival.store,
        arrival.path,
        arrival.checksum,
        file.id,
        detail=f"arrived verified from {arrival.source}",
    )
    events.log(connection, [arrived], now)
    return int(file.id)


def _disagrees(size: int, checksum: str | None, other_size: int, other_checksum: str) -> bool:
    """Whether a recorded file and an arriving one cannot be the same content."""
    return size != other_size or (checksum is not None and checksum != other_checksum)
