"""run_shards: the shards of fanned-out runs (``fan_out``), claimed by workers under lease

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sexton.db.types import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_shards",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("after_id", sa.BigInteger),
        sa.Column("upto_id", sa.BigInteger),
        sa.Column("prefix", sa.Text),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("worker", sa.String(200)),
        sa.Column("lease_expires_at", UTCDateTime),
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("items", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("bytes", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("error", sa.Text),
        sa.Column("sticky", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.UniqueConstraint("run_id", "number", name="uq_run_shards_run_number"),
    )
    op.create_index("ix_run_shards_run_state", "run_shards", ["run_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_run_shards_run_state", table_name="run_shards")
    op.drop_table("run_shards")
