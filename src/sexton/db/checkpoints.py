"""Moving SQLite's write-ahead log into the database file from a thread of its own.

SQLite does it in the committing connection once the log holds 1,000 pages, and that commit
then waits for the disk: in a first scan, 50 ms every few batches, 2.6 s of a million-file
scan (bench/scan.py). While a bulk writer runs, a thread checkpoints every
``CHECKPOINT_EVERY`` seconds instead, so the writer's commits find the log already copied
and start it over. PASSIVE checkpoints never wait for readers or writers, and the data is
as safe as before: the log is synced before it is copied, the database file after.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

CHECKPOINT_EVERY = 0.05  # seconds; a first scan writes about 1 MB of log per 10 ms


@contextmanager
def background_checkpoints(engine: Engine) -> Iterator[None]:
    """Checkpoint an SQLite file database in a thread until the body ends; else do nothing."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        yield
        return
    stop = threading.Event()
    thread = threading.Thread(
        target=_checkpoint_until, args=(engine, stop), name="wal-checkpoints", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _checkpoint_until(engine: Engine, stop: threading.Event) -> None:
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        while not stop.wait(CHECKPOINT_EVERY):
            # A checkpoint that cannot run now is left to the next turn, or to the writer.
            try:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except engine.dialect.loaded_dbapi.Error:
                continue
    finally:
        connection.close()
