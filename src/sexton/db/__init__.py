"""The database: SQLAlchemy Core tables and Alembic migrations, on SQLite or PostgreSQL."""

from .connection import (
    NoDatabase,
    commit_without_waiting,
    connect,
    connect_read_only,
    is_postgres,
    reading,
)
from .migrate import SchemaOutOfDate, ensure_schema, upgrade

__all__ = [
    "NoDatabase",
    "SchemaOutOfDate",
    "commit_without_waiting",
    "connect",
    "connect_read_only",
    "ensure_schema",
    "is_postgres",
    "reading",
    "upgrade",
]
