"""drop ix_instances_store_state: ix_instances_store_verified_at serves its (store, state) prefix

Every copy a scan records paid for an entry in both. The readers of (store, state) keep
their plans on the other index; the few that wanted its file_id probe the file_id index.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_instances_store_state", table_name="instances")


def downgrade() -> None:
    op.create_index(
        "ix_instances_store_state", "instances", ["store", "state", "file_id"], unique=False
    )
