"""Helpers for the backup tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa

from sexton.backups import BackupRecord
from sexton.db.tables import run_events
from sexton.engine.record import Run
from sexton.engine.service import Instance
from sexton.engine.worker import Worker

PG_URL = os.environ.get("SEXTON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PG_SERVER = PG_URL.rsplit("/", 1)[0]  # the server, without the test database
ROWS = 3000  # rows in each test application database's `submission` table


def run_task(instance: Instance, task: str) -> Run:
    """Queue one run of ``task`` and run it to its end in a worker."""
    instance.book.queue(task, "manual", instance.clock.now())
    run = Worker(instance.config, instance.book, instance.clock).run_once()
    assert run is not None
    return run


def events(instance: Instance, run: Run) -> list[str]:
    query = sa.select(run_events.c.message).where(run_events.c.run_id == run.id)
    with instance.engine.connect() as connection:
        found = connection.execute(query.order_by(run_events.c.id)).scalars()
        return [message for message in found if message]


class Writer(threading.Thread):
    """Keeps inserting rows until stopped, so a backup runs against a database in use."""

    def __init__(self, insert_one: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.insert_one = insert_one
        self.stop = threading.Event()
        self.inserted = 0

    def run(self) -> None:
        while not self.stop.wait(0.001):  # steady, not a flood that makes teardown slow
            self.insert_one()
            self.inserted += 1

    def __enter__(self) -> Writer:
        self.start()
        while self.inserted < 5:  # it is really writing before the backup starts
            self.stop.wait(0.005)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join(5)


def flip_a_byte(path: Path, offset: int | None = None) -> None:
    """Bit rot: one byte changed in the middle of the file."""
    data = bytearray(path.read_bytes())
    where = len(data) // 2 if offset is None else offset
    data[where] ^= 0xFF
    path.write_bytes(bytes(data))


def drill_databases() -> list[str]:
    with psycopg.connect(f"{PG_SERVER}/postgres") as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'sexton_drill_%'"
        ).fetchall()
    return [r[0] for r in rows]


DAY = timedelta(days=1)
T0 = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)  # day 0 of the records `record` makes


def record(i: int, day: int, verify_ok: bool | None = True, keep: bool = False) -> BackupRecord:
    """A backup record made ``day`` days after T0, for tests of pure functions."""
    return BackupRecord(
        id=i,
        task="nightly",
        store="vault",
        name=f"b{i}",
        format="opaque",
        size=1,
        checksum="sha256:" + "0" * 64,
        created_at=T0 + day * DAY,
        run_id=None,
        verified_at=None,
        verify_ok=verify_ok,
        verify_error=None,
        keep=keep,
        deleted_at=None,
    )
