"""The database: SQLAlchemy Core tables and Alembic migrations, on SQLite or PostgreSQL."""

from .connection import NoDatabase, connect, connect_read_only, is_postgres, reading
from .migrate import SchemaOutOfDate, ensure_schema, upgrade

__all__ = [
    "NoDatabase",
    "SchemaOutOfDate",
    "connect",
    "connect_read_only",
    "ensure_schema",
    "is_postgres",
    "reading",
    "upgrade",
]
