"""drain: series, their files, and the drain switches

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sexton.db.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drain_switches",
        sa.Column("task", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("changed_at", sexton.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("task", name=op.f("pk_drain_switches")),
    )
    op.create_table(
        "drain_series",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task", sa.String(length=200), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("resume", sa.String(length=16), nullable=True),
        sa.Column("error_run", sa.Integer(), nullable=True),
        sa.Column("retry_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sexton.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drain_series")),
        sa.UniqueConstraint("task", "serial", name="uq_drain_series_task"),
    )
    op.create_index("ix_drain_series_task_state", "drain_series", ["task", "state"], unique=False)
    op.create_table(
        "drain_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("checksum", sa.String(length=200), nullable=True),
        sa.Column("copied_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("tombstone", sa.Text(), nullable=True),
        sa.Column("deleted_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["drain_series.id"],
            name=op.f("fk_drain_files_series_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drain_files")),
        sa.UniqueConstraint("series_id", "path", name="uq_drain_files_series_id"),
    )
    op.create_index("ix_drain_files_path", "drain_files", ["path"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_drain_files_path", table_name="drain_files")
    op.drop_table("drain_files")
    op.drop_index("ix_drain_series_task_state", table_name="drain_series")
    op.drop_table("drain_series")
    op.drop_table("drain_switches")
