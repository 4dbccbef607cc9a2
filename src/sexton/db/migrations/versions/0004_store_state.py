"""store state (a store disabled when full), and the index fixity checks walk

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sexton.db.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_state",
        sa.Column("store", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("store", name=op.f("pk_store_state")),
    )
    op.create_index(
        "ix_instances_store_verified_at",
        "instances",
        ["store", "state", "verified_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_instances_store_verified_at", table_name="instances")
    op.drop_table("store_state")
