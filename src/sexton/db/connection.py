"""Opening the database: SQLite (WAL, busy timeout, immediate writes) or PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

SQLITE_BUSY_TIMEOUT_MS = 30_000  # writers queue behind each other instead of failing
# A pooled PostgreSQL connection idle this long is checked before use (the server may have
# restarted or a firewall dropped it); one in constant use is not.
PING_AFTER_IDLE_SECONDS = 5.0
RANDOM_PAGE_COST = 1.1  # PostgreSQL's usual setting for SSDs


def connect(url: str) -> Engine:
    """An engine for ``url``; ``postgresql://`` URLs use psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _sqlite_pragmas(engine)
        return engine
    engine = create_engine(parsed, pool_size=5, max_overflow=5)
    _postgres_settings(engine)
    _ping_when_idle(engine)
    return engine


def connect_read_only(url: str) -> Engine:
    """An engine that cannot change the database (``sexton plan``, ``sexton simulate``):
    SQLite opened with ``mode=ro``, so it is neither created nor written; PostgreSQL with
    every transaction ``READ ONLY``, so the server refuses any write.

    ``NoDatabase`` when a SQLite file is not there: a read-only look creates nothing.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return connect(url).execution_options(postgresql_readonly=True)
    path = parsed.database
    if not path or path == ":memory:" or not Path(path).is_file():
        raise NoDatabase(f"no database at {path or ':memory:'}: nothing has run yet")
    # ``uri=true`` lets sqlite3 read ``mode=ro`` from the file name (a ``file:`` URI).
    read_only = parsed.set(database=f"file:{Path(path).resolve()}?mode=ro", query={"uri": "true"})
    engine = create_engine(read_only, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    _sqlite_pragmas(engine)
    return engine.execution_options(sqlite_begin="DEFERRED")  # takes no write lock


class NoDatabase(Exception):
    """A read-only look found no database to read."""


def _postgres_settings(engine: Engine) -> None:
    """No JIT: Sexton's queries are short, and compiling them costs more than it saves
    (measured: about 40 ms added to every claim once the planner chose a generic plan).

    Random reads priced as what they are for Sexton's tables, which live in memory or on
    SSDs: the default (4.0) is for spinning disks. With it, a burst of runs queued since the
    last ANALYZE made the planner sort every due run on each claim instead of reading the
    queued-runs index in order: 10,000 queued runs drained at a third of the speed.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("SET jit = off")
        dbapi_connection.execute(f"SET random_page_cost = {RANDOM_PAGE_COST}")
        dbapi_connection.commit()


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it sat idle, where ``pool_pre_ping``
    pings on every checkout: that extra round trip was a third of a worker's time claiming
    and finishing runs back to back (bench/dispatch.py). A dead connection is replaced with
    a fresh one before the caller sees it."""

    @event.listens_for(engine, "checkin")
    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:  # None: a connection detached from the pool
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"a pooled connection was dead: {exc}") from exc


def _sqlite_pragmas(engine: Engine) -> None:
    """WAL so readers never block the writer; ``BEGIN IMMEDIATE`` so two writers queue at the
    start of a transaction rather than deadlock when both upgrade a read lock."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only: on SQLite it takes no write lock, so it never waits
    for (or blocks) a writer."""
    with engine.connect() as connection:
        connection.execution_options(sqlite_begin="DEFERRED")
        yield connection


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def commit_without_waiting(connection: Connection) -> None:
    """Let this transaction commit without waiting for its WAL to reach the disk (PostgreSQL),
    for writes that a server crash may lose because something else finds them again (a scan's
    batch, the next scan; a shard's claim or end, its lease). The database stays consistent,
    and a later commit that waits makes this one durable too. SQLite in WAL mode with
    ``synchronous=NORMAL`` already commits this way.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
