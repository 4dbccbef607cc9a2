"""Opening an instance's database read-only, for the commands that only look ahead."""

from __future__ import annotations

from sqlalchemy import Engine

from ..config import Config
from ..db import NoDatabase, connect, connect_read_only, ensure_schema
from ..db.migrate import current_revision, head_revision
from .common import fail


def read_only_database(config: Config) -> Engine:
    """The database opened read-only; while there is none yet (nothing has run, so nothing
    is recorded), an empty one in memory. An outdated schema or an unreachable server is the
    user's to fix."""
    try:
        engine = connect_read_only(config.database_url)
        revision = current_revision(engine)
    except NoDatabase:
        return _nothing_recorded()
    except Exception as exc:
        if type(exc).__module__.startswith(("sqlalchemy", "psycopg", "sqlite3")):
            fail(f"cannot open the database {config.database_url}: {exc.__class__.__name__}: {exc}")
        raise
    if revision is None:
        return _nothing_recorded()
    if revision != head_revision():
        fail(
            f"the database schema is at {revision}, this Sexton needs {head_revision()}: "
            "run `sexton db upgrade`"
        )
    return engine


def _nothing_recorded() -> Engine:
    """An empty database in memory: what a database that does not exist yet holds."""
    engine = connect("sqlite://")  # one connection per thread: the same in-memory database
    ensure_schema(engine)
    return engine
