"""catalog: files, instances, marks, corrupt files, remote instances, transfers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 05:53:13.821843
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sexton.db.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("checksum", sa.String(length=200), nullable=True),
        sa.Column("created_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("ingested_at", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
        sa.UniqueConstraint("name", name="uq_files_name"),
    )
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index("ix_files_created_at", ["created_at", "id"], unique=False)

    op.create_table(
        "instances",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("store", sa.String(length=200), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "deletion_policy",
            sa.String(length=32),
            server_default=sa.text("'disallowed'"),
            nullable=False,
        ),
        sa.Column("size_seen", sa.BigInteger(), nullable=True),
        sa.Column("mtime_seen", sa.Float(), nullable=True),
        sa.Column("changed_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("seen_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("swept", sa.String(length=32), nullable=True),
        sa.Column("verified_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("verified_checksum", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_instances_file_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instances")),
        sa.UniqueConstraint("store", "path", name="uq_instances_store_path"),
    )
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.create_index("ix_instances_file_id", ["file_id"], unique=False)
        batch_op.create_index(
            "ix_instances_store_state", ["store", "state", "file_id"], unique=False
        )

    op.create_table(
        "marks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.String(length=500), server_default=sa.text("''"), nullable=False),
        sa.Column("marked_at", sexton.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_marks_file_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marks")),
        sa.UniqueConstraint("file_id", "name", "value", name="uq_marks_file_id"),
    )
    with op.batch_alter_table("marks", schema=None) as batch_op:
        batch_op.create_index("ix_marks_name_value", ["name", "value"], unique=False)

    op.create_table(
        "remote_instances",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=200), nullable=False),
        sa.Column("store", sa.String(length=200), nullable=False),
        sa.Column("checksum", sa.String(length=200), nullable=True),
        sa.Column("confirmed_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_remote_instances_file_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remote_instances")),
        sa.UniqueConstraint("file_id", "site", "store", name="uq_remote_instances_file_id"),
    )
    op.create_table(
        "transfers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("site", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("batch", sa.String(length=200), nullable=True),
        sa.Column("started_at", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_transfers_file_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfers")),
    )
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.create_index("ix_transfers_file_id", ["file_id"], unique=False)
        batch_op.create_index("ix_transfers_state", ["state", "site"], unique=False)

    op.create_table(
        "corrupt_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("store", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("first_seen", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("last_seen", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("expected", sa.String(length=200), nullable=True),
        sa.Column("actual", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_corrupt_files_file_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_corrupt_files_instance_id"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corrupt_files")),
    )
    with op.batch_alter_table("corrupt_files", schema=None) as batch_op:
        batch_op.create_index("ix_corrupt_files_file_id", ["file_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("corrupt_files", schema=None) as batch_op:
        batch_op.drop_index("ix_corrupt_files_file_id")

    op.drop_table("corrupt_files")
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_transfers_state")
        batch_op.drop_index("ix_transfers_file_id")

    op.drop_table("transfers")
    op.drop_table("remote_instances")
    with op.batch_alter_table("marks", schema=None) as batch_op:
        batch_op.drop_index("ix_marks_name_value")

    op.drop_table("marks")
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_index("ix_instances_store_state")
        batch_op.drop_index("ix_instances_file_id")

    op.drop_table("instances")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index("ix_files_created_at")

    op.drop_table("files")
