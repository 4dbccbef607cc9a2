"""Transfer rows at both ends, and the remote instances a source records once a destination
confirmed a verified copy.

A source's row is ``outgoing``: one per file per attempt, ``initiated -> ongoing -> staged ->
completed | failed | cancelled``. One the destination refused has ``refused`` set and is
``failed`` when the refusal is for good (another checksum), or ``cancelled`` when it may pass
(no room), so that the file is offered again after a wait. A destination's is ``incoming``
with the source's id in ``remote_id``; it gets a ``file_id`` when the file is ingested. Every
change is one short transaction, so a process killed at any moment leaves rows a later run
can carry on from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, exists, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from ..catalog import PRESENT
from ..catalog.records import iso
from ..catalog.upsert import insert_for
from ..clock import Clock
from ..db import reading
from ..db.catalog_tables import files, instances, remote_instances, transfers
from .messages import StageAnswer
from .queue import enqueue

OUTGOING = "outgoing"
INCOMING = "incoming"
INITIATED = "initiated"
ONGOING = "ongoing"
STAGED = "staged"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
STATES = (INITIATED, ONGOING, STAGED, COMPLETED, FAILED, CANCELLED)
IN_FLIGHT = (INITIATED, ONGOING, STAGED)
FINAL = (COMPLETED, FAILED, CANCELLED)
CHUNK = 500  # ids per IN (...) list


@dataclass(frozen=True, slots=True)
class Transfer:
    """One file's transfer, seen from this end."""

    id: int
    direction: str
    site: str
    state: str
    batch: str | None
    name: str | None
    size: int | None
    checksum: str | None
    store: str | None
    remote_id: int | None
    staging_path: str | None
    refused: bool
    error: str | None
    file_id: int | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "direction": self.direction,
            "site": self.site,
            "state": self.state,
            "batch": self.batch,
            "name": self.name,
            "size": self.size,
            "checksum": self.checksum,
            "store": self.store,
            "refused": self.refused,
            "error": self.error,
            "started_at": iso(self.started_at),
            "updated_at": iso(self.updated_at),
            "finished_at": iso(self.finished_at),
        }


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file the source may send, with the store to read it from."""

    file_id: int
    name: str
    size: int
    checksum: str
    store: str


@dataclass(frozen=True, slots=True)
class Totals:
    """Counts for metrics and the dashboard."""

    by_state: dict[tuple[str, str], int]  # (direction, state) -> transfers
    bytes_sent: int
    bytes_received: int
    oldest_in_flight: datetime | None


def _transfer(row: Any) -> Transfer:
    return Transfer(
        id=row.id,
        direction=row.direction,
        site=row.site,
        state=row.state,
        batch=row.batch,
        name=row.name,
        size=row.size,
        checksum=row.checksum,
        store=row.store,
        remote_id=row.remote_id,
        staging_path=row.staging_path,
        refused=bool(row.refused),
        error=row.error,
        file_id=row.file_id,
        started_at=row.started_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
    )


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[i : i + CHUNK]) for i in range(0, len(ids), CHUNK)]


def _insert_transfer(
    connection: Connection,
    now: datetime,
    *,
    direction: str,
    site: str,
    batch: str,
    name: str,
    size: int,
    checksum: str,
    store: str,
    file_id: int | None = None,
    remote_id: int | None = None,
    staging_path: str | None = None,
) -> int:
    """A new ``initiated`` transfer row, at either end; returns its id."""
    result = connection.execute(
        transfers.insert()
        .values(
            direction=direction,
            site=site,
            state=INITIATED,
            batch=batch,
            name=name,
            size=size,
            checksum=checksum,
            store=store,
            file_id=file_id,
            remote_id=remote_id,
            staging_path=staging_path,
            started_at=now,
            updated_at=now,
        )
        .returning(transfers.c.id)
    )
    return int(result.scalar_one())


def _set_state(
    connection: Connection,
    ids: Sequence[int],
    state: str,
    now: datetime,
    error: str | None = None,
    *,
    refused: bool = False,
    only_from: Sequence[str] = IN_FLIGHT,
) -> int:
    """Move transfers still in ``only_from`` to ``state``; returns how many moved."""
    values: dict[str, Any] = {"state": state, "updated_at": now, "error": error}
    if state in FINAL:
        values["finished_at"] = now
    if refused:
        values["refused"] = True
    moved = 0
    for chunk in _chunks(ids):
        result = connection.execute(
            update(transfers)
            .where(transfers.c.id.in_(chunk), transfers.c.state.in_(only_from))
            .values(**values)
        )
        moved += result.rowcount
    return moved


def _complete(
    connection: Connection,
    transfer: Transfer,
    store: str,
    checksum: str,
    now: datetime,
    only_from: Sequence[str] = IN_FLIGHT,
) -> bool:
    """Completed, with a confirmed remote instance; False (nothing written) when
    ``checksum`` is not the file's: that copy vouches for nothing."""
    recorded = connection.execute(
        select(files.c.checksum).where(files.c.id == transfer.file_id)
    ).scalar_one_or_none()
    if recorded is None or recorded != checksum or transfer.file_id is None:
        return False
    record_remote(connection, transfer.file_id, transfer.site, store, checksum, now)
    connection.execute(
        update(transfers)
        .where(transfers.c.id == transfer.id, transfers.c.state.in_(only_from))
        .values(state=COMPLETED, updated_at=now, finished_at=now, error=None)
    )
    return True


def record_remote(
    connection: Connection, file_id: int, site: str, store: str, checksum: str, now: datetime
) -> None:
    """A copy ``site`` confirmed with ``checksum``: one row per (file, site, store), refreshed."""
    confirmed = {"checksum": checksum, "confirmed_at": now}
    connection.execute(
        insert_for(connection, remote_instances)
        .values(file_id=file_id, site=site, store=store, **confirmed)
        .on_conflict_do_update(
            index_elements=[
                remote_instances.c.file_id,
                remote_instances.c.site,
                remote_instances.c.store,
            ],
            set_=confirmed,
        )
    )


@dataclass(frozen=True, slots=True)
class Refusal:
    """A file the destination would not take, and whether it is offered again later."""

    name: str
    reason: str
    for_now: bool  # the reason may pass (no room): offered again after a wait


@dataclass
class Answered:
    """What the destination's answers to a batch came to."""

    accepted: int = 0
    held: int = 0
    unanswered: int = 0
    refused: list[Refusal] = field(default_factory=list)


def _refuse(
    connection: Connection, transfer: Transfer, reason: str, now: datetime, for_now: bool = False
) -> Refusal:
    """Close a refused transfer: ``cancelled`` when the reason may pass (``candidates``
    offers the file again after a wait), else ``failed`` for good; ``refused`` either way."""
    state = CANCELLED if for_now else FAILED
    _set_state(connection, [transfer.id], state, now, reason, refused=True)
    return Refusal(transfer.name or "", reason, for_now)


def reoffer_refused(connection: Connection, site: str) -> None:
    """Let ``candidates`` offer again the files ``site`` refused for good (another checksum):
    a person has looked (``sexton clear`` of the sending task). The transfers stay failed,
    with the destination's reason."""
    connection.execute(
        update(transfers)
        .where(
            transfers.c.direction == OUTGOING,
            transfers.c.site == site,
            transfers.c.state == FAILED,
            transfers.c.refused.is_(True),
        )
        .values(refused=False)
    )


@dataclass(frozen=True, slots=True)
class Accepted:
    """A file the destination agreed to take, and where its bytes are to wait."""

    remote_id: int  # the source's outgoing transfer id
    name: str
    size: int
    checksum: str
    store: str
    staging_path: str


class TransferBook:
    """Transfer rows in one database; ``clock`` stamps every change."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    # -- reading ---------------------------------------------------------------------------

    def listing(
        self,
        state: str | None = None,
        direction: str | None = None,
        site: str | None = None,
        limit: int | None = 100,
    ) -> list[Transfer]:
        """Transfers, newest first."""
        query = select(transfers)
        if state is not None:
            query = query.where(transfers.c.state == state)
        if direction is not None:
            query = query.where(transfers.c.direction == direction)
        if site is not None:
            query = query.where(transfers.c.site == site)
        with reading(self.engine) as connection:
            rows = connection.execute(query.order_by(transfers.c.id.desc()).limit(limit))
            return [_transfer(r) for r in rows]

    def by_ids(self, ids: Sequence[int]) -> list[Transfer]:
        found: list[Transfer] = []
        with reading(self.engine) as connection:
            for chunk in _chunks(ids):
                rows = connection.execute(select(transfers).where(transfers.c.id.in_(chunk)))
                found += [_transfer(r) for r in rows]
        return sorted(found, key=lambda t: t.id)

    def in_batch(self, batch: str) -> list[Transfer]:
        with reading(self.engine) as connection:
            rows = connection.execute(
                select(transfers).where(transfers.c.batch == batch).order_by(transfers.c.id)
            )
            return [_transfer(r) for r in rows]

    def in_flight(
        self,
        direction: str,
        states: Sequence[str] = IN_FLIGHT,
        updated_before: datetime | None = None,
        limit: int | None = None,
    ) -> list[Transfer]:
        """Unfinished transfers, oldest first (optionally only those idle since a time)."""
        query = select(transfers).where(
            transfers.c.direction == direction, transfers.c.state.in_(states)
        )
        if updated_before is not None:
            query = query.where(transfers.c.updated_at < updated_before)
        with reading(self.engine) as connection:
            rows = connection.execute(query.order_by(transfers.c.id).limit(limit))
            return [_transfer(r) for r in rows]

    def count_in_flight(self, site: str, states: Sequence[str], other_than: str) -> int:
        """Outgoing transfers to ``site`` in ``states``, leaving out batch ``other_than``."""
        query = select(func.count()).where(
            transfers.c.direction == OUTGOING,
            transfers.c.site == site,
            transfers.c.state.in_(states),
            transfers.c.batch != other_than,
        )
        with reading(self.engine) as connection:
            return int(connection.execute(query).scalar_one())

    def totals(self) -> Totals:
        with reading(self.engine) as connection:
            counts = connection.execute(
                select(transfers.c.direction, transfers.c.state, func.count()).group_by(
                    transfers.c.direction, transfers.c.state
                )
            ).all()
            moved = dict(
                connection.execute(
                    select(transfers.c.direction, func.coalesce(func.sum(transfers.c.size), 0))
                    .where(transfers.c.state.in_((STAGED, COMPLETED)))
                    .group_by(transfers.c.direction)
                ).all()
            )
            oldest = connection.execute(
                select(func.min(transfers.c.started_at)).where(transfers.c.state.in_(IN_FLIGHT))
            ).scalar_one()
        return Totals(
            by_state={(d, s): int(n) for d, s, n in counts},
            bytes_sent=int(moved.get(OUTGOING, 0)),
            bytes_received=int(moved.get(INCOMING, 0)),
            oldest_in_flight=oldest,
        )

    # -- the source's side -----------------------------------------------------------------

    def candidates(
        self,
        site: str,
        preference: str | None,
        created_after: datetime | None,
        limit: int,
        refused_before: datetime,
    ) -> list[Candidate]:
        """Hashed files with a present copy here, no confirmed copy at ``site``, no transfer
        to it in flight, none it refused for good, and none it refused for a passing reason
        (no room) since ``refused_before``; oldest first. Each comes with the store to read
        from: ``preference`` when it holds a present copy, else the first store by name."""
        sent = and_(
            transfers.c.file_id == files.c.id,
            transfers.c.direction == OUTGOING,
            transfers.c.site == site,
        )
        conditions: list[ColumnElement[bool]] = [
            files.c.checksum.is_not(None),
            exists().where(instances.c.file_id == files.c.id, instances.c.state == PRESENT),
            ~exists().where(
                remote_instances.c.file_id == files.c.id,
                remote_instances.c.site == site,
                remote_instances.c.checksum == files.c.checksum,
            ),
            ~exists().where(sent, transfers.c.state.in_(IN_FLIGHT)),
            ~exists().where(sent, transfers.c.refused.is_(True), transfers.c.state == FAILED),
            ~exists().where(
                sent,
                transfers.c.refused.is_(True),
                transfers.c.state == CANCELLED,
                transfers.c.finished_at >= refused_before,
            ),
        ]
        if created_after is not None:
            conditions.append(
                func.coalesce(files.c.created_at, files.c.ingested_at) >= created_after
            )
        query = (
            select(files.c.id, files.c.name, files.c.size, files.c.checksum)
            .where(*conditions)
            .order_by(files.c.id)
            .limit(limit)
        )
        with reading(self.engine) as connection:
            rows = connection.execute(query).all()
            stores: dict[int, list[str]] = {}
            for chunk in _chunks([r.id for r in rows]):
                held = connection.execute(
                    select(instances.c.file_id, instances.c.store)
                    .where(instances.c.file_id.in_(chunk), instances.c.state == PRESENT)
                    .order_by(instances.c.store)
                )
                for file_id, store in held:
                    stores.setdefault(file_id, []).append(store)
        found = []
        for row in rows:
            held_on = stores.get(row.id, [])
            if not held_on:  # its last copy went between the two queries
                continue
            store = preference if preference in held_on else held_on[0]
            found.append(Candidate(row.id, row.name, row.size, row.checksum, store))
        return found

    def start_outgoing(self, site: str, batch: str, chosen: Sequence[Candidate]) -> list[int]:
        """Record ``initiated`` transfers for a batch, before the destination is asked, so a
        crash after asking leaves rows the hypervisor can settle; returns their ids."""
        now = self.clock.now()
        with self.engine.begin() as connection:
            return [
                _insert_transfer(
                    connection,
                    now,
                    direction=OUTGOING,
                    site=site,
                    batch=batch,
                    file_id=c.file_id,
                    name=c.name,
                    size=c.size,
                    checksum=c.checksum,
                    store=c.store,
                )
                for c in chosen
            ]

    def record_answers(
        self, site: str, batch: str, offered: Sequence[int], answers: Sequence[StageAnswer]
    ) -> Answered:
        """Record the destination's answers to a batch, and queue the batch if it accepted
        any, in one transaction: a crash leaves the batch either as asked (``initiated``
        rows, which the hypervisor settles with the destination) or wholly recorded.

        Accepted: where its bytes go. Held with the file's checksum: completed, with a
        confirmed remote instance. Refused for a reason that may pass (no room): cancelled,
        and offered again after a wait (``candidates``). Refused for good (another
        checksum, here or there): failed, and not offered again. Not answered: failed,
        offered again by the next run."""
        now = self.clock.now()
        by_id = {a.id: a for a in answers}
        answered = Answered()
        with self.engine.begin() as connection:
            rows: dict[int, Transfer] = {}
            for chunk in _chunks(offered):
                found = connection.execute(select(transfers).where(transfers.c.id.in_(chunk)))
                rows.update((r.id, _transfer(r)) for r in found)
            for id_ in offered:
                transfer, answer = rows.get(id_), by_id.get(id_)
                if transfer is None:  # its file was deleted meanwhile, and the row with it
                    continue
                if answer is None:
                    _set_state(connection, [id_], FAILED, now, "the destination did not answer")
                    answered.unanswered += 1
                elif answer.answer == "accepted" and answer.incoming_id is not None:
                    connection.execute(
                        update(transfers)
                        .where(transfers.c.id == id_)
                        .values(
                            remote_id=answer.incoming_id,
                            staging_path=answer.staging_path,
                            updated_at=now,
                        )
                    )
                    answered.accepted += 1
                elif answer.answer == "held" and answer.store and answer.checksum:
                    if _complete(connection, transfer, answer.store, answer.checksum, now):
                        answered.held += 1
                    else:
                        reason = f"{site} holds it with another checksum"
                        answered.refused.append(_refuse(connection, transfer, reason, now))
                else:
                    reason = answer.reason or "refused without a reason"
                    refusal = _refuse(connection, transfer, reason, now, for_now=answer.retry)
                    answered.refused.append(refusal)
            if answered.accepted:
                enqueue(connection, batch, site, now)
        return answered

    def set_state(
        self,
        ids: Sequence[int],
        state: str,
        error: str | None = None,
        *,
        only_from: Sequence[str] = IN_FLIGHT,
    ) -> int:
        """Move transfers to ``state`` (only those still in ``only_from``); returns how many
        moved. A final state is never left, so a late or repeated answer changes nothing."""
        with self.engine.begin() as connection:
            return _set_state(connection, ids, state, self.clock.now(), error, only_from=only_from)

    def complete_outgoing(
        self, transfer: Transfer, store: str, checksum: str, only_from: Sequence[str] = IN_FLIGHT
    ) -> bool:
        """The destination holds a verified copy with ``checksum``: completed, and a confirmed
        remote instance, in one transaction. False (and nothing written) when ``checksum`` is
        not the file's: that copy vouches for nothing."""
        with self.engine.begin() as connection:
            return _complete(connection, transfer, store, checksum, self.clock.now(), only_from)

    def confirm_by_name(self, site: str, name: str, store: str, checksum: str) -> str:
        """A copy ``site`` holds of file ``name`` (SneakerNet, or a lost id): ``confirmed``
        with a remote instance and its in-flight transfers there completed, ``mismatch`` if
        the checksum is not the file's, ``unknown`` if there is no such file here."""
        now = self.clock.now()
        with self.engine.begin() as connection:
            file = connection.execute(
                select(files.c.id, files.c.checksum).where(files.c.name == name)
            ).first()
            if file is None:
                return "unknown"
            if file.checksum != checksum:
                return "mismatch"
            record_remote(connection, file.id, site, store, checksum, now)
            connection.execute(
                update(transfers)
                .where(
                    transfers.c.file_id == file.id,
                    transfers.c.direction == OUTGOING,
                    transfers.c.site == site,
                    transfers.c.state.in_(IN_FLIGHT),
                )
                .values(state=COMPLETED, updated_at=now, finished_at=now, error=None)
            )
        return "confirmed"

    def remote_copies(self, file_id: int) -> list[tuple[str, str, str | None]]:
        """(site, store, checksum) of the remote instances of a file."""
        query = select(
            remote_instances.c.site, remote_instances.c.store, remote_instances.c.checksum
        ).where(remote_instances.c.file_id == file_id)
        with reading(self.engine) as connection:
            return [tuple(r) for r in connection.execute(query.order_by(remote_instances.c.id))]

    def set_remote(self, file_id: int, site: str, store: str, checksum: str | None) -> None:
        """Refresh a remote instance after asking the site again: its checksum as now
        confirmed, or NULL (no longer vouching) when the site could not confirm it."""
        with self.engine.begin() as connection:
            if checksum is not None:
                record_remote(connection, file_id, site, store, checksum, self.clock.now())
                return
            connection.execute(
                update(remote_instances)
                .where(
                    remote_instances.c.file_id == file_id,
                    remote_instances.c.site == site,
                    remote_instances.c.store == store,
                )
                .values(checksum=None)
            )

    def merge_remote_duplicates(self) -> int:
        """Drop unconfirmed remote instances of files the same site holds confirmed on another
        store record: they would only ever be counted by mistake. Returns how many went."""
        confirmed = remote_instances.alias("confirmed")
        with self.engine.begin() as connection:
            result = connection.execute(
                delete(remote_instances).where(
                    remote_instances.c.checksum.is_(None),
                    exists().where(
                        confirmed.c.file_id == remote_instances.c.file_id,
                        confirmed.c.site == remote_instances.c.site,
                        confirmed.c.checksum.is_not(None),
                    ),
                )
            )
            return int(result.rowcount)

    # -- the destination's side ------------------------------------------------------------

    def start_incoming(self, source: str, batch: str, accepted: Sequence[Accepted]) -> list[int]:
        """Accept files of a batch, in one transaction: an ``initiated`` incoming row each, ids
        in order. An earlier unfinished transfer of the same name from the same source is
        superseded (its bytes are overwritten)."""
        now = self.clock.now()
        ids = []
        with self.engine.begin() as connection:
            for f in accepted:
                connection.execute(
                    update(transfers)
                    .where(
                        transfers.c.direction == INCOMING,
                        transfers.c.site == source,
                        transfers.c.name == f.name,
                        transfers.c.state.in_(IN_FLIGHT),
                    )
                    .values(
                        state=CANCELLED,
                        error=f"superseded by batch {batch}",
                        updated_at=now,
                        finished_at=now,
                    )
                )
                ids.append(
                    _insert_transfer(
                        connection,
                        now,
                        direction=INCOMING,
                        site=source,
                        batch=batch,
                        name=f.name,
                        size=f.size,
                        checksum=f.checksum,
                        store=f.store,
                        remote_id=f.remote_id,
                        staging_path=f.staging_path,
                    )
                )
        return ids

    def incoming_for(self, source: str, remote_ids: Sequence[int]) -> dict[int, Transfer]:
        """The latest incoming transfer for each of the source's ids."""
        found: dict[int, Transfer] = {}
        with reading(self.engine) as connection:
            for chunk in _chunks(remote_ids):
                rows = connection.execute(
                    select(transfers)
                    .where(
                        transfers.c.direction == INCOMING,
                        transfers.c.site == source,
                        transfers.c.remote_id.in_(chunk),
                    )
                    .order_by(transfers.c.id)
                )
                for row in rows:
                    found[row.remote_id] = _transfer(row)
        return found

    def incoming_bytes_in_flight(self, store: str) -> int:
        """Bytes accepted for ``store`` and not yet ingested: room already promised."""
        query = select(func.coalesce(func.sum(transfers.c.size), 0)).where(
            transfers.c.direction == INCOMING,
            transfers.c.store == store,
            transfers.c.state.in_(IN_FLIGHT),
        )
        with reading(self.engine) as connection:
            return int(connection.execute(query).scalar_one())

    def staging_leftovers(self) -> list[Transfer]:
        """Incoming transfers whose staging directories may still hold what a killed upload
        left: every one with a ``staging_path``, until ``forget_staging``."""
        query = select(transfers).where(
            transfers.c.direction == INCOMING, transfers.c.staging_path.is_not(None)
        )
        with reading(self.engine) as connection:
            return [_transfer(r) for r in connection.execute(query.order_by(transfers.c.id))]

    def forget_staging(self, ids: Sequence[int]) -> None:
        """Finished transfers whose staging directories were swept after nothing there could
        be newer than the stale age: their ``staging_path`` is cleared, so they are not
        looked at again (nothing else reads it once a transfer is final)."""
        with self.engine.begin() as connection:
            for chunk in _chunks(ids):
                connection.execute(
                    update(transfers)
                    .where(transfers.c.id.in_(chunk), transfers.c.state.in_(FINAL))
                    .values(staging_path=None)
                )

    def ingested(self, transfer_id: int, file_id: int) -> None:
        now = self.clock.now()
        with self.engine.begin() as connection:
            connection.execute(
                update(transfers)
                .where(transfers.c.id == transfer_id)
                .values(
                    state=COMPLETED, file_id=file_id, updated_at=now, finished_at=now, error=None
                )
            )
