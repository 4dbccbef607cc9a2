"""The schema's history: migrations build exactly the tables the code uses, and a database
left at an older version is refused until `sexton db upgrade`."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
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


def test_damaged_warc_copies_backfilled_as_mismatches_are_relabelled(database_url: str) -> None:
    # A catalog from before the fixity log holds two damaged copies: one whose checksum did
    # not match, one whose checksum matched but whose WARC records are damaged.
    engine = connect(database_url)
    command.upgrade(_alembic_config(engine), "0018")
    good, bad = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    problem = "WARC record at offset 0: payload digest does not match"
    at = "2026-01-02 03:04:05.000000"
    with engine.begin() as connection:
        for id_, name in ((1, "mismatched.warc.gz"), (2, "damaged.warc.gz")):
            connection.execute(
                sa.text(
                    "INSERT INTO files (id, name, size, checksum, ingested_at, source)"
                    " VALUES (:id, :name, 1, :good, :at, 'scan:store')"
                ),
                {"id": id_, "name": name, "good": good, "at": at},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO instances (id, file_id, store, path, state)"
                    " VALUES (:id, :id, 'store', :name, 'corrupt')"
                ),
                {"id": id_, "name": name},
            )
        for id_, actual in ((1, bad), (2, problem)):
            connection.execute(
                sa.text(
                    "INSERT INTO corrupt_files (file_id, instance_id, store, first_seen,"
                    " last_seen, expected, actual) VALUES (:id, :id, 'store', :at, :at, :good,"
                    " :actual)"
                ),
                {"id": id_, "at": at, "good": good, "actual": actual},
            )
    upgrade(engine)
    with engine.connect() as connection:
        logged = connection.execute(
            sa.text(
                "SELECT instance_id, outcome, checksum, detail FROM fixity_checks"
                " ORDER BY instance_id"
            )
        ).all()
    engine.dispose()
    assert [tuple(row) for row in logged] == [
        (1, "mismatch", bad, f"expected {good}"),
        (2, "damaged", good, problem),
    ]
