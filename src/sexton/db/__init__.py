"""The database: SQLAlchemy Core tables and Alembic migrations, on SQLite or PostgreSQL."""

from .connection import connect, is_postgres, reading
from .migrate import SchemaOutOfDate, ensure_schema, upgrade

__all__ = ["SchemaOutOfDate", "connect", "ensure_schema", "is_postgres", "reading", "upgrade"]
