"""engine tables

Revision ID: 0001
Revises:
Create Date: 2026-11-30 05:34:31.184262
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sexton.db.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task", sa.String(length=200), nullable=False),
        sa.Column("slot", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("retry_of", sa.Integer(), nullable=True),
        sa.Column(
            "executor", sa.String(length=16), server_default=sa.text("'local'"), nullable=False
        ),
        sa.Column("concurrency", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("lane", sa.Integer(), nullable=True),
        sa.Column("queued_at", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("not_before", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("started_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("finished_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("lease_expires_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("items", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("bytes", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("log_tail", sa.Text(), nullable=True),
        sa.Column(
            "cancel_requested", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("task", "slot", name="uq_runs_task_slot"),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index("ix_runs_claim", ["state", "not_before"], unique=False)
        batch_op.create_index("ix_runs_task_id", ["task", "id"], unique=False)
        batch_op.create_index(
            "uq_runs_running_lane",
            ["task", "lane"],
            unique=True,
            sqlite_where=sa.text("state = 'running'"),
            postgresql_where=sa.text("state = 'running'"),
        )

    op.create_table(
        "status_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task", sa.String(length=200), nullable=False),
        sa.Column("at", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_changes")),
    )
    with op.batch_alter_table("status_changes", schema=None) as batch_op:
        batch_op.create_index("ix_status_changes_task", ["task", "at"], unique=False)

    op.create_table(
        "task_state",
        sa.Column("task", sa.String(length=200), nullable=False),
        sa.Column("first_seen_at", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("last_slot", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("last_started_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_finished_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_success_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_duration", sa.Float(), nullable=True),
        sa.Column("last_outcome", sa.String(length=16), nullable=True),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("sticky_error", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'new'"), nullable=False),
        sa.Column("status_since", sexton.db.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("task", name=op.f("pk_task_state")),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("tags", sa.Text(), server_default=sa.text("('')"), nullable=False),
        sa.Column("started_at", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("stopped_at", sexton.db.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_table(
        "run_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=200), nullable=False),
        sa.Column("at", sexton.db.types.UTCDateTime(), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_events_run_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_events")),
    )
    with op.batch_alter_table("run_events", schema=None) as batch_op:
        batch_op.create_index("ix_run_events_at", ["at"], unique=False)
        batch_op.create_index("ix_run_events_run_id", ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("run_events", schema=None) as batch_op:
        batch_op.drop_index("ix_run_events_run_id")
        batch_op.drop_index("ix_run_events_at")

    op.drop_table("run_events")
    op.drop_table("workers")
    op.drop_table("task_state")
    with op.batch_alter_table("status_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_status_changes_task")

    op.drop_table("status_changes")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_runs_running_lane",
            sqlite_where=sa.text("state = 'running'"),
            postgresql_where=sa.text("state = 'running'"),
        )
        batch_op.drop_index("ix_runs_task_id")
        batch_op.drop_index("ix_runs_claim")

    op.drop_table("runs")
