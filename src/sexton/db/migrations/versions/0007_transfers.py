"""inter-site transfers: transfer details and the transfer queue

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sexton.db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NEW_COLUMNS = (
    ("name", sa.Text()),
    ("size", sa.BigInteger()),
    ("checksum", sa.String(length=200)),
    ("store", sa.String(length=200)),
    ("remote_id", sa.Integer()),
    ("staging_path", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.alter_column("file_id", existing_type=sa.Integer(), nullable=True)
        for name, kind in NEW_COLUMNS:
            batch_op.add_column(sa.Column(name, kind, nullable=True))
        batch_op.add_column(
            sa.Column("refused", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
        batch_op.create_index("ix_transfers_batch", ["batch"], unique=False)

    op.create_table(
        "transfer_queue",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch", sa.String(length=200), nullable=False),
        sa.Column("site", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("not_before", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("claimed_until", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_queue")),
        sa.UniqueConstraint("batch", name="uq_transfer_queue_batch"),
    )
    with op.batch_alter_table("transfer_queue", schema=None) as batch_op:
        batch_op.create_index("ix_transfer_queue_state", ["state", "not_before"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("transfer_queue", schema=None) as batch_op:
        batch_op.drop_index("ix_transfer_queue_state")
    op.drop_table("transfer_queue")
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_transfers_batch")
        batch_op.drop_column("refused")
        for name, _kind in reversed(NEW_COLUMNS):
            batch_op.drop_column(name)
        batch_op.alter_column("file_id", existing_type=sa.Integer(), nullable=False)
