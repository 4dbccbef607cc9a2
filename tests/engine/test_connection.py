"""PostgreSQL connections: a pooled connection the server dropped while it sat idle is
replaced before anyone uses it, so a database restart costs no run its record."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import sexton.db.connection as connection_module
from sexton.db import NoDatabase, connect, connect_read_only, ensure_schema
from sexton.db.tables import task_state

BACKEND = sa.text("SELECT pg_backend_pid()")


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = connect(postgres_url)
    with engine.connect() as connection:
        dropped = connection.execute(BACKEND).scalar_one()
    admin = connect(postgres_url)
    with admin.connect() as connection:
        terminate = sa.text(f"SELECT pg_terminate_backend({dropped})")
        assert connection.execute(terminate).scalar_one()
    admin.dispose()
    monkeypatch.setattr(connection_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    with engine.connect() as connection:
        assert connection.execute(BACKEND).scalar_one() != dropped
    engine.dispose()


def test_a_read_only_engine_reads_but_every_write_is_refused(database_url, tmp_path):
    writable = connect(database_url)
    ensure_schema(writable)
    writable.dispose()
    engine = connect_read_only(database_url)
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(task_state)).scalar() == 0
    refused = pytest.raises(sa.exc.DBAPIError, match="read-only|readonly")
    with refused, engine.begin() as connection:
        connection.execute(sa.delete(task_state))
        connection.execute(
            sa.insert(task_state).values(task="t", first_seen_at=sa.func.current_timestamp())
        )
    engine.dispose()


def test_a_read_only_look_at_a_missing_sqlite_file_creates_nothing(tmp_path):
    with pytest.raises(NoDatabase, match="no database at"):
        connect_read_only(f"sqlite:///{tmp_path / 'absent.db'}")
    assert list(tmp_path.iterdir()) == []
