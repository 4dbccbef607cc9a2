"""running totals of finished runs per task; notifications claimed once across schedulers

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sexton.db.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OUTCOMES = ("succeeded", "failed", "timed_out", "cancelled", "skipped")
TOTALS = [f"runs_{outcome}" for outcome in OUTCOMES] + ["items_done", "bytes_done"]


def upgrade() -> None:
    with op.batch_alter_table("task_state") as batch_op:
        for name in TOTALS:
            batch_op.add_column(
                sa.Column(name, sa.BigInteger(), nullable=False, server_default=sa.text("0"))
            )
    # Start the totals from the history kept so far, so the counters do not reset on upgrade.
    counted = {
        f"runs_{outcome}": f"(SELECT count(*) FROM runs WHERE runs.task = task_state.task"
        f" AND runs.state = '{outcome}')"
        for outcome in OUTCOMES
    }
    finished = ", ".join(f"'{outcome}'" for outcome in OUTCOMES)
    for name, column in (("items_done", "items"), ("bytes_done", "bytes")):
        counted[name] = (
            f"(SELECT coalesce(sum(runs.{column}), 0) FROM runs"
            f" WHERE runs.task = task_state.task AND runs.state IN ({finished}))"
        )
    op.execute(
        "UPDATE task_state SET " + ", ".join(f"{name} = {expr}" for name, expr in counted.items())
    )
    for table in ("status_changes", "corrupt_files"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(
                sa.Column("notified_at", sexton.db.types.UTCDateTime(), nullable=True)
            )


def downgrade() -> None:
    for table in ("status_changes", "corrupt_files"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("notified_at")
    with op.batch_alter_table("task_state") as batch_op:
        for name in TOTALS:
            batch_op.drop_column(name)
