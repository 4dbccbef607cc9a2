"""task_state.idle_since: when a task began succeeding with nothing to do (alert.idle_after)

Revision ID: 0014
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sexton.db.types

revision = "0014"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Left NULL on upgrade: a task's idle time is counted from its next success that does
    # nothing, so an upgrade never flags a task idle at once.
    with op.batch_alter_table("task_state") as batch_op:
        batch_op.add_column(sa.Column("idle_since", sexton.db.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_state") as batch_op:
        batch_op.drop_column("idle_since")
