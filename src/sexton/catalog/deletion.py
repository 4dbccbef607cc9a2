"""The one way a copy is deleted (DESIGN §5, invariant 1).

A copy goes only if at least N *other* copies vouch for the file: present, holding a
verified checksum equal to the file's, verified recently enough. Corrupt, missing, deleted,
never-verified, stale or mismatching copies never vouch; a remote site's copy vouches once
that site confirmed the same checksum recently enough. The rule is one SQL expression,
``vouching``, used both to list candidates and to decide, again, at the moment of deleting.

A copy also carries its own ``deletion_policy`` (the librarian's): one ``disallowed`` is never
deleted unless the caller forces it, as the librarian's rolling deletion does by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Select, func, select, update

from sexton.db.catalog_tables import files, instances, remote_instances
from sexton.stores import Store

from . import events
from .errors import CatalogError
from .fixity import Copy, copies_query, fetch_copies
from .ingest import ALLOWED
from .records import DELETED, PRESENT


@dataclass(frozen=True, slots=True)
class Voucher:
    """A copy that vouches for a file: where it is, its verified checksum, and when."""

    store: str  # a store name, or ``site:store`` for a copy a remote site confirmed
    checksum: str
    verified_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        when = self.verified_at.isoformat() if self.verified_at else None
        return {"store": self.store, "checksum": self.checksum, "verified_at": when}


def _vouchers(fresh_after: datetime | None) -> tuple[Select[Any], Select[Any]]:
    """The other local copies, and the remote ones, that vouch for the file of the
    ``instances`` row in the outer query (which must join ``files``): the rule, once."""
    other = instances.alias("other")
    local = select(other.c.store, other.c.verified_checksum, other.c.verified_at).where(
        other.c.file_id == instances.c.file_id,
        other.c.id != instances.c.id,
        other.c.state == PRESENT,
        other.c.verified_checksum == files.c.checksum,  # NULL on either side never matches
    )
    remote = select(
        remote_instances.c.site + ":" + remote_instances.c.store,
        remote_instances.c.checksum,
        remote_instances.c.confirmed_at,
    ).where(
        remote_instances.c.file_id == instances.c.file_id,
        remote_instances.c.checksum == files.c.checksum,
    )
    if fresh_after is not None:
        local = local.where(other.c.verified_at >= fresh_after)
        remote = remote.where(remote_instances.c.confirmed_at >= fresh_after)
    return local, remote


def vouching(fresh_after: datetime | None) -> ColumnElement[int]:
    """How many other copies vouch for the file of the ``instances`` row in the outer query
    (which must join ``files``): local copies plus confirmed remote ones.

    ``fresh_after`` None waives the age of verifications: only for listing candidates whose
    copies are about to be re-hashed, never for deciding.
    """
    local, remote = (q.with_only_columns(func.count()) for q in _vouchers(fresh_after))
    return local.scalar_subquery() + remote.scalar_subquery()


def vouchers(connection: Connection, copy: Copy, fresh_after: datetime | None) -> list[Voucher]:
    """The copies that vouch for ``copy``'s file now (what ``vouching`` counts)."""
    found: list[Voucher] = []
    for query in _vouchers(fresh_after):
        rows = connection.execute(
            query.select_from(instances)
            .join(files, instances.c.file_id == files.c.id)
            .where(instances.c.id == copy.instance_id)
        )
        found += [Voucher(store, checksum, verified_at) for store, checksum, verified_at in rows]
    return sorted(found, key=lambda v: v.store)


def deletable(
    connection: Connection,
    store: str,
    created_before: datetime,
    needed: int,
    fresh_after: datetime | None,
    after_id: int,
    limit: int,
    force: bool = False,
) -> list[Copy]:
    """Present copies on ``store`` of files older than ``created_before`` that enough other
    copies vouch for, by instance id after ``after_id`` (a keyset, for batches); with
    ``force``, also those whose deletion policy disallows it."""
    query = copies_query().where(
        instances.c.store == store,
        instances.c.state == PRESENT,
        instances.c.id > after_id,
        func.coalesce(files.c.created_at, files.c.ingested_at) < created_before,
        vouching(fresh_after) >= needed,
    )
    if not force:
        query = query.where(instances.c.deletion_policy == ALLOWED)
    return fetch_copies(connection, query.order_by(instances.c.id).limit(limit))


def other_copies(connection: Connection, copy: Copy) -> list[Copy]:
    """The file's other present copies (to re-verify them before trusting them)."""
    query = copies_query().where(
        instances.c.file_id == copy.file_id,
        instances.c.id != copy.instance_id,
        instances.c.state == PRESENT,
    )
    return fetch_copies(connection, query.order_by(instances.c.id))


def delete_copy(
    engine: Engine,
    copy: Copy,
    store: Store,
    needed: int,
    fresh_after: datetime,
    force: bool = False,
    *,
    now: datetime,
) -> bool:
    """Remove ``copy`` from ``store`` and record it deleted, if ``needed`` others vouch and
    its deletion policy allows it (or ``force`` overrides the policy).

    Returns False, touching nothing, when they do not (any more). The rule is checked in the
    transaction that records the deletion, after locking the file's row: every deletion of a
    copy of one file queues on that lock, which closes the race where deletions on two
    stores each count the other's copy and both go ahead, leaving fewer than N. The store
    file is removed before the commit: if removing fails, nothing is recorded; if the process
    dies after removing, the copy is still ``present`` in the catalog and the next fixity
    check finds it missing — never a copy recorded gone that is still counted on.
    """
    if store.name != copy.store:
        raise CatalogError(f"copy {copy.path!r} is on store {copy.store}, not {store.name}")
    with engine.begin() as connection:
        connection.execute(select(files.c.id).where(files.c.id == copy.file_id).with_for_update())
        check = (
            select(instances.c.state, instances.c.deletion_policy, vouching(fresh_after))
            .join_from(instances, files, instances.c.file_id == files.c.id)
            .where(instances.c.id == copy.instance_id)
            .with_for_update(of=instances)
        )
        row = connection.execute(check).one_or_none()
        if row is None:
            return False
        state, policy, vouchers = row
        if state != PRESENT or vouchers < needed or (policy != ALLOWED and not force):
            return False
        store.delete(copy.path, missing_ok=True)
        connection.execute(
            update(instances).where(instances.c.id == copy.instance_id).values(state=DELETED)
        )
        detail = f"{vouchers} other verified copies vouched for it"
        gone = events.LoggedEvent(
            events.DELETION,
            copy.name,
            store.name,
            copy.path,
            copy.checksum,
            copy.file_id,
            detail=detail,
        )
        events.log(connection, [gone], now)
    return True
