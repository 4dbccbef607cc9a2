"""The schema's history: migrations build exactly the tables the code uses, and a database
left at an older version is refused until `sexton db upgrade`."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import sexton.db.backup_tables  # noqa: F401  (the tables register on `metadata`)
import sexton.db.catalog_tables  # noqa: F401
import sexton.db.drain_tables  # noqa: F401
import sexton.db.store_state_tables  # noqa: F401
from sexton.db import SchemaOutOfDate, connect, ensure_schema, upgrade
from sexton.db.migrate import MIGRATIONS, _alembic_config, current_revision, head_revision
from sexton.db.tables import metadata


def test_the_numbered_head_is_alembics_head() -> None:
    assert head_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()


def test_migrations_build_exactly_the_tables_the_code_declares(database_url: str) -> None:
    engine = connect(database_url)
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert differences == []


def test_an_older_schema_is_refused_until_upgraded(database_url: str) -> None:
    engine = connect(database_url)
    command.upgrade(_alembic_config(engine), "0006")
    with pytest.raises(SchemaOutOfDate, match=f"at 0006, this Sexton needs {head_revision()}"):
        ensure_schema(engine)
    upgrade(engine)
    ensure_schema(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()
