"""preservation_events: clones, arrivals and deletions of copies, dated, for PREMIS export

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sexton.db.types import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "preservation_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id", ondelete="SET NULL")),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("store", sa.String(200), nullable=False),
        sa.Column("path", sa.Text),
        sa.Column("checksum", sa.String(200)),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_preservation_events_at", "preservation_events", ["at", "id"])


def downgrade() -> None:
    op.drop_index("ix_preservation_events_at", table_name="preservation_events")
    op.drop_table("preservation_events")
