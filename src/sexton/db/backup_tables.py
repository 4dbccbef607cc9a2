"""Backups written by `backup` tasks and the restore drills run on them.

These rows replace the spreadsheet operators kept ("which backup was tested, when, with what
counts"). On the shared ``metadata``, so one Alembic history covers them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from .tables import metadata
from .types import UTCDateTime

backups = Table(
    "backups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task", String(200), nullable=False),
    Column("store", String(200), nullable=False),
    Column("name", Text, nullable=False),  # the path on the store
    Column("format", String(32), nullable=False),  # how to check and restore it (sources.py)
    Column("size", BigInteger, nullable=False),
    Column("checksum", String(200), nullable=False),  # ``algo:hex``, computed while written
    Column("created_at", UTCDateTime, nullable=False),
    Column("run_id", Integer),
    Column("verified_at", UTCDateTime),
    Column("verify_ok", Boolean),  # NULL until verified
    Column("verify_error", Text),
    # Set by `sexton backup keep`: retention never deletes it.
    Column("keep", Boolean, nullable=False, server_default=text("false")),
    Column("deleted_at", UTCDateTime),  # removed from the store by retention
    UniqueConstraint("task", "name", name="uq_backups_task"),
)
Index("ix_backups_task_created_at", backups.c.task, backups.c.created_at)

backup_drills = Table(
    "backup_drills",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("backup_id", Integer, ForeignKey("backups.id", ondelete="CASCADE"), nullable=False),
    Column("task", String(200), nullable=False),  # the restore_drill task
    Column("run_id", Integer),
    Column("at", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("error", Text),
    Column("results", JSON),  # one {"check", "value", "min", "ok"} per check
)
Index("ix_backup_drills_backup_id", backup_drills.c.backup_id)
