"""Schema migrations with Alembic: ``sexton db upgrade``, and automatically on an empty database."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

from .connection import is_postgres, reading

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: schedulers and workers starting together on an empty PostgreSQL database
# take this advisory lock so only one of them creates the schema.
MIGRATION_LOCK = 7_362_841


class SchemaOutOfDate(RuntimeError):
    pass


def _alembic_config(engine: Engine) -> AlembicConfig:
    # Alembic is imported only when the schema must change: every command checks the
    # schema's version, and importing Alembic for that would slow each of them down.
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def _upgrade_to_head(engine: Engine) -> None:
    from alembic import command

    command.upgrade(_alembic_config(engine), "head")


def head_revision() -> str:
    """The newest migration. Migrations are numbered in order (``0008_what.py`` has revision
    ``0008``), so the highest number is the head; a test checks Alembic agrees."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("0*.py"))


def current_revision(engine: Engine) -> str | None:
    """The revision Alembic stamped on the database, or None for a new database."""
    with reading(engine) as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        version = connection.execute(text("SELECT version_num FROM alembic_version"))
        return version.scalar_one_or_none()


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[None]:
    """Held while the schema is looked at and changed, so that commands started together on
    a new database create it once, and none mistakes a half-created schema for an old one.

    PostgreSQL: an advisory lock. A SQLite file: a lock file beside it (SQLite commits
    Alembic's DDL statement by statement, so its own locking cannot cover a whole upgrade).
    """
    if is_postgres(engine):
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # the lock goes with the file's closing


def upgrade(engine: Engine) -> None:
    """Apply every pending migration."""
    with _schema_lock(engine):
        _upgrade_to_head(engine)


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse to run on an outdated one."""
    head = head_revision()
    if current_revision(engine) == head:
        return  # the usual case, without taking the lock
    with _schema_lock(engine):
        revision = current_revision(engine)
        if revision is None and not inspect(engine).has_table("runs"):
            _upgrade_to_head(engine)
            return
    if revision != head:
        raise SchemaOutOfDate(
            f"the database schema is at {revision or 'an unknown version'}, this Sexton needs "
            f"{head}: run `sexton db upgrade`"
        )
