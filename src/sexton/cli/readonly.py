"""Opening an instance's database read-only, for the commands that only look ahead."""

from __future__ import annotations

from sqlalchemy import Engine

from ..config import Config
from ..db import NoDatabase, connect_read_only
from ..db.migrate import current_revision, head_revision
from .common import fail


def read_only_database(config: Config) -> Engine | None:
    """The database opened read-only, or None when there is none yet (nothing has run, so
    nothing is recorded); an outdated schema or an unreachable server is the user's to fix."""
    try:
        engine = connect_read_only(config.database_url)
        revision = current_revision(engine)
    except NoDatabase:
        return None
    except Exception as exc:
        if type(exc).__module__.startswith(("sqlalchemy", "psycopg", "sqlite3")):
            fail(f"cannot open the database {config.database_url}: {exc.__class__.__name__}: {exc}")
        raise
    if revision is None:
        return None
    if revision != head_revision():
        fail(
            f"the database schema is at {revision}, this Sexton needs {head_revision()}: "
            "run `sexton db upgrade`"
        )
    return engine
