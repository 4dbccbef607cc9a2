"""Watching the database for what people must hear about: a task going down or coming back
up (the status flips the scheduler records) and newly damaged files.

It looks only at rows newer than a cursor taken at start, so a restart does not repeat old
news. Every process that runs a scheduler watches, so several schedulers may share one
database: each piece of news is claimed once, by setting its ``notified_at`` with a
conditional ``UPDATE``, and only the process whose update took the row sends it. A process
that dies between claiming and delivering loses that message (at most once, never twice).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, func, select, update

from ..config import Config
from ..config.models import NotifySettings
from ..db import reading
from ..db.catalog_tables import corrupt_files, files
from ..db.tables import status_changes, task_state
from ..engine.service import Instance
from .channels import channels_of
from .delivery import Deliverer
from .message import Notification

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0  # news reaches people within this long of the flip being recorded


def wanted(config: Config) -> bool:
    """Whether any notification channel is configured, globally or on a task."""
    everywhere = [config.settings.notify, *(s.settings.notify for s in config.tasks.values())]
    return any(n is not None and (n.webhooks or n.email) for n in everywhere)


class Notifier:
    def __init__(self, instance: Instance, deliverer: Deliverer | None = None) -> None:
        self.instance = instance
        self.deliverer = deliverer or Deliverer()
        with reading(instance.engine) as connection:
            self._last_flip = _max_id(connection, status_changes.c.id)
            self._last_damage = _max_id(connection, corrupt_files.c.id)

    def policy(self, task: str | None) -> NotifySettings:
        """A task's own ``notify:`` replaces the global one."""
        spec = self.instance.config.tasks.get(task) if task else None
        if spec is not None and spec.settings.notify is not None:
            return spec.settings.notify
        return self.instance.config.settings.notify

    def poll_once(self) -> list[Notification]:
        """Claim and send what happened since start and nobody has claimed; returns what this
        process queued for sending."""
        with reading(self.instance.engine) as connection:
            if not self._unclaimed(connection):
                return []  # the usual case: no write transaction, so no lock on SQLite
        with self.instance.engine.begin() as connection:
            news = self._flips(connection) + self._damage(connection)
        for notification in news:
            policy = self.policy(notification.task)
            if notification.event in policy.on:
                for channel in channels_of(policy):
                    self.deliverer.submit(channel, notification, policy)
        return news

    def serve(self, stop: threading.Event) -> None:
        while not stop.wait(POLL_SECONDS):
            try:
                self.poll_once()
            except Exception:  # a database hiccup: the claim rolled back, try again
                log.exception("looking for notifications failed")
        self.deliverer.close()

    def _unclaimed(self, connection: Connection) -> bool:
        """Whether any news waits to be claimed (read only, cheap)."""
        return any(
            connection.execute(
                select(table.c.id)
                .where(table.c.id > cursor, table.c.notified_at.is_(None))
                .limit(1)
            ).first()
            for table, cursor in (
                (status_changes, self._last_flip),
                (corrupt_files, self._last_damage),
            )
        )

    def _claim(self, connection: Connection, table: Table, cursor: int) -> list[int]:
        """Mark this process as the sender of the table's unclaimed news after ``cursor``.

        The race this closes: two schedulers polling at once both see a new flip. The
        ``UPDATE`` only takes rows whose ``notified_at`` is still NULL; PostgreSQL makes the
        second one wait for the first's row lock and then re-check the condition, SQLite
        runs one write transaction at a time, so each row is returned to one process only.
        """
        return list(
            connection.execute(
                update(table)
                .where(table.c.id > cursor, table.c.notified_at.is_(None))
                .values(notified_at=self.instance.clock.now())
                .returning(table.c.id)
            ).scalars()
        )

    def _flips(self, connection: Connection) -> list[Notification]:
        claimed = self._claim(connection, status_changes, self._last_flip)
        rows = connection.execute(
            select(status_changes, task_state.c.sticky_error)
            .join_from(status_changes, task_state, status_changes.c.task == task_state.c.task)
            .where(status_changes.c.id.in_(claimed))
            .order_by(status_changes.c.id)
        ).all()
        news = []
        for row in rows:
            if row.to_status == "down":
                news.append(_down(row.task, row.from_status, row.at, row.sticky_error))
            elif row.to_status == "up" and row.from_status in ("down", "late"):
                news.append(
                    Notification(
                        "up",
                        f"[sexton] {row.task} is back up",
                        f"{row.task} succeeded again and is on schedule.",
                        row.at,
                        row.task,
                    )
                )
        return news

    def _damage(self, connection: Connection) -> list[Notification]:
        claimed = self._claim(connection, corrupt_files, self._last_damage)
        rows = connection.execute(
            select(corrupt_files, files.c.name)
            .join_from(corrupt_files, files, corrupt_files.c.file_id == files.c.id)
            .where(corrupt_files.c.id.in_(claimed))
            .order_by(corrupt_files.c.id)
        ).all()
        news = []
        for row in rows:
            news.append(
                Notification(
                    "corruption",
                    f"[sexton] damaged copy of {row.name} on {row.store}",
                    f"The copy of {row.name} on store {row.store} no longer matches its "
                    f"checksum. Restore it from a good copy; `sexton catalog show {row.name}` "
                    f"lists the copies.",
                    row.first_seen,
                    details=(
                        ("file", row.name),
                        ("store", row.store),
                        ("expected", str(row.expected)),
                        ("found", str(row.actual)),
                    ),
                )
            )
        return news


def _down(task: str, before: str | None, at: datetime, sticky: str | None) -> Notification:
    why = f"It needs a person: {sticky}" if sticky else "It is overdue or failing."
    return Notification(
        "down",
        f"[sexton] {task} is DOWN",
        f"{task} went from {before or 'new'} to down. {why} "
        f"`sexton runs {task}` shows its recent runs; `sexton clear {task}` once it is handled.",
        at,
        task,
    )


def _max_id(connection: Connection, column: ColumnElement[Any]) -> int:
    return int(connection.execute(select(func.coalesce(func.max(column), 0))).scalar_one())
