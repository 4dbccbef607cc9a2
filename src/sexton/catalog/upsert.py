"""``INSERT ... ON CONFLICT`` in the dialect of the connection (SQLite or PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(connection: Connection, table: Table) -> Any:
    """An insert with ``on_conflict_do_nothing`` / ``on_conflict_do_update`` for this database.

    Typed ``Any`` because the two dialects' Insert classes share the methods but no base class.
    """
    return insert_in(connection.dialect.name, table)


def insert_in(dialect: str, table: Table) -> Any:
    """:func:`insert_for` by the dialect's name, for statements built once per database."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
