"""The transfer queue: one item per batch ``send_clone`` handed over, taken by
``consume_queue`` under a lease.

A consumer that dies leaves its item ``consuming`` until the lease runs out; the next one
takes it again and carries on from the transfers' own states, so nothing is sent twice
that had already arrived.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, or_, select, update

from ..clock import Clock
from ..db import is_postgres
from ..db.catalog_tables import transfer_queue

PENDING = "pending"
CONSUMING = "consuming"
DONE = "done"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class QueueItem:
    id: int
    batch: str
    site: str
    attempts: int  # including the one just begun


def enqueue(connection: Connection, batch: str, site: str, now: datetime) -> None:
    """One pending item for a batch, in the caller's transaction (``send_clone`` records its
    answers in the same one)."""
    connection.execute(
        transfer_queue.insert().values(
            batch=batch,
            site=site,
            state=PENDING,
            not_before=now,
            created_at=now,
            updated_at=now,
        )
    )


class TransferQueue:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def claim(
        self, lease: timedelta, skip: set[int] | frozenset[int] = frozenset()
    ) -> QueueItem | None:
        """Take the oldest due item: pending, or consuming with a lapsed lease.

        On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets consumers on several hosts each take a
        different item without waiting on each other; on SQLite the write transaction
        serialises them. The update re-checks the state, so a claim never steals a live one.
        """
        now = self.clock.now()
        takeable = or_(
            transfer_queue.c.state == PENDING,
            (transfer_queue.c.state == CONSUMING) & (transfer_queue.c.claimed_until < now),
        )
        query = (
            select(
                transfer_queue.c.id,
                transfer_queue.c.batch,
                transfer_queue.c.site,
                transfer_queue.c.attempts,
            )
            .where(
                takeable, transfer_queue.c.not_before <= now, transfer_queue.c.id.not_in(list(skip))
            )
            .order_by(transfer_queue.c.id)
            .limit(1)
        )
        if is_postgres(self.engine):
            query = query.with_for_update(skip_locked=True)
        with self.engine.begin() as connection:
            row = connection.execute(query).first()
            if row is None:
                return None
            taken = connection.execute(
                update(transfer_queue)
                .where(transfer_queue.c.id == row.id, takeable)
                .values(
                    state=CONSUMING,
                    claimed_until=now + lease,
                    attempts=transfer_queue.c.attempts + 1,
                    updated_at=now,
                )
            ).rowcount
        if not taken:
            return None
        return QueueItem(row.id, row.batch, row.site, row.attempts + 1)

    def renew(self, item: QueueItem, lease: timedelta) -> None:
        now = self.clock.now()
        with self.engine.begin() as connection:
            connection.execute(
                update(transfer_queue)
                .where(transfer_queue.c.id == item.id, transfer_queue.c.state == CONSUMING)
                .values(claimed_until=now + lease, updated_at=now)
            )

    def finish(self, item: QueueItem, state: str = DONE, error: str | None = None) -> None:
        self._set(item, state=state, error=error, claimed_until=None)

    def put_back(
        self, item: QueueItem, not_before: datetime, error: str | None, *, retry: bool = True
    ) -> None:
        """Hand the item back: ``retry`` counts the attempt (a failure), else it was only
        deferred (no room in flight, the run stopping) and the attempt is given back."""
        values: dict[str, object] = {
            "state": PENDING,
            "error": error,
            "claimed_until": None,
            "not_before": not_before,
        }
        if not retry:
            values["attempts"] = transfer_queue.c.attempts - 1
        self._set(item, **values)

    def _set(self, item: QueueItem, **values: object) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(transfer_queue)
                .where(transfer_queue.c.id == item.id)
                .values(updated_at=self.clock.now(), **values)
            )
