"""partial indexes of unclaimed status flips and damage, for the notifier's poll

The notifier asks every few seconds whether anything after its cursor is still unclaimed.
Without these it read every claimed row after the cursor: 37 ms per poll on PostgreSQL at a
million flips, growing for as long as the service runs.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UNCLAIMED = sa.text("notified_at IS NULL")
INDEXES = {
    "status_changes": "ix_status_changes_unclaimed",
    "corrupt_files": "ix_corrupt_files_unclaimed",
}


def upgrade() -> None:
    for table, index in INDEXES.items():
        op.create_index(index, table, ["id"], sqlite_where=UNCLAIMED, postgresql_where=UNCLAIMED)


def downgrade() -> None:
    for table, index in INDEXES.items():
        op.drop_index(index, table_name=table)
