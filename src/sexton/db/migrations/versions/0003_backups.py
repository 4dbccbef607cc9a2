"""backups and restore drills

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 07:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sexton.db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task", sa.String(length=200), nullable=False),
        sa.Column("store", sa.String(length=200), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("checksum", sa.String(length=200), nullable=False),
        sa.Column("created_at", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("verified_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("verify_ok", sa.Boolean(), nullable=True),
        sa.Column("verify_error", sa.Text(), nullable=True),
        sa.Column("keep", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deleted_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backups")),
        sa.UniqueConstraint("task", "name", name="uq_backups_task"),
    )
    op.create_index("ix_backups_task_created_at", "backups", ["task", "created_at"], unique=False)
    op.create_table(
        "backup_drills",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("backup_id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("at", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("results", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["backup_id"],
            ["backups.id"],
            name=op.f("fk_backup_drills_backup_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_drills")),
    )
    op.create_index("ix_backup_drills_backup_id", "backup_drills", ["backup_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_backup_drills_backup_id", table_name="backup_drills")
    op.drop_table("backup_drills")
    op.drop_index("ix_backups_task_created_at", table_name="backups")
    op.drop_table("backups")
