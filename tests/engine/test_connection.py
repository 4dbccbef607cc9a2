"""PostgreSQL connections: a pooled connection the server dropped while it sat idle is
replaced before anyone uses it, so a database restart costs no run its record."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import sexton.db.connection as connection_module
from sexton.db import connect

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
