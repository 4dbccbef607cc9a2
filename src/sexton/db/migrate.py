"""Schema migrations with Alembic: ``sexton db upgrade``, and automatically on an empty database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from .connection import is_postgres, reading

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: schedulers and workers starting together on an empty PostgreSQL database
# take this advisory lock so only one of them creates the schema.
MIGRATION_LOCK = 7_362_841


class SchemaOutOfDate(RuntimeError):
    pass


def _alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with reading(engine) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Apply every pending migration."""
    if is_postgres(engine):
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
            try:
                command.upgrade(_alembic_config(engine), "head")
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
    else:
        command.upgrade(_alembic_config(engine), "head")


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse to run on an outdated one."""
    revision = current_revision(engine)
    if revision == head_revision():
        return
    if revision is None and not inspect(engine).has_table("runs"):
        upgrade(engine)
        return
    raise SchemaOutOfDate(
        f"the database schema is at {revision or 'an unknown version'}, this Sexton needs "
        f"{head_revision()}: run `sexton db upgrade`"
    )
