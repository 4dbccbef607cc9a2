"""The engine's tables (SQLAlchemy Core). Changes go through an Alembic migration too."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from .types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task", String(200), nullable=False),
    # The time a scheduled run was due; NULL for runs not created by the schedule.
    Column("slot", UTCDateTime),
    Column("reason", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempt", Integer, nullable=False, server_default=text("1")),
    Column("retry_of", Integer),
    Column("executor", String(16), nullable=False, server_default=text("'local'")),
    Column("concurrency", Integer, nullable=False, server_default=text("1")),
    # Which of the task's `concurrency` places a running run holds (see the unique index).
    Column("lane", Integer),
    Column("queued_at", UTCDateTime, nullable=False),
    Column("not_before", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("lease_expires_at", UTCDateTime),
    Column("worker", String(200)),
    Column("items", BigInteger, nullable=False, server_default=text("0")),
    Column("bytes", BigInteger, nullable=False, server_default=text("0")),
    Column("error", Text),
    Column("exit_code", Integer),
    Column("note", Text),
    Column("log_tail", Text),
    Column("cancel_requested", Boolean, nullable=False, server_default=text("false")),
    # Any number of schedulers may insert a slot's run; this keeps exactly one.
    UniqueConstraint("task", "slot", name="uq_runs_task_slot"),
)
# At most `concurrency` running runs per task, enforced by the database across hosts:
# a running run holds one lane, and no two running runs of a task hold the same lane.
Index(
    "uq_runs_running_lane",
    runs.c.task,
    runs.c.lane,
    unique=True,
    sqlite_where=runs.c.state == "running",
    postgresql_where=runs.c.state == "running",
)
# Claims read the oldest due queued runs; this index holds only those, in that order.
Index(
    "ix_runs_queued",
    runs.c.not_before,
    runs.c.id,
    sqlite_where=runs.c.state == "queued",
    postgresql_where=runs.c.state == "queued",
)
Index("ix_runs_task_id", runs.c.task, runs.c.id)

run_events = Table(
    "run_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("task", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16)),
    Column("message", Text),
)
Index("ix_run_events_run_id", run_events.c.run_id)
Index("ix_run_events_at", run_events.c.at)

task_state = Table(
    "task_state",
    metadata,
    Column("task", String(200), primary_key=True),
    Column("first_seen_at", UTCDateTime, nullable=False),
    # The newest slot the schedulers have handled; never moves backwards.
    Column("last_slot", UTCDateTime),
    Column("last_run_id", Integer),
    Column("last_started_at", UTCDateTime),
    Column("last_finished_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_duration", Float),
    Column("last_outcome", String(16)),
    Column("failures", Integer, nullable=False, server_default=text("0")),
    # A failure that needs a person (checksum mismatch, drain ERROR): kept until `clear`.
    Column("sticky_error", Text),
    Column("status", String(16), nullable=False, server_default=text("'new'")),
    Column("status_since", UTCDateTime),
    # Running totals of finished runs by outcome, and the work they did: the Prometheus
    # counters. Kept here, not summed over `runs`, so pruning history never lowers them.
    Column("runs_succeeded", BigInteger, nullable=False, server_default=text("0")),
    Column("runs_failed", BigInteger, nullable=False, server_default=text("0")),
    Column("runs_timed_out", BigInteger, nullable=False, server_default=text("0")),
    Column("runs_cancelled", BigInteger, nullable=False, server_default=text("0")),
    Column("runs_skipped", BigInteger, nullable=False, server_default=text("0")),
    Column("items_done", BigInteger, nullable=False, server_default=text("0")),
    Column("bytes_done", BigInteger, nullable=False, server_default=text("0")),
    # The first success that did nothing (items = 0) since the last one that did something;
    # NULL while the newest success did work. Drives the `idle` status (alert.idle_after).
    Column("idle_since", UTCDateTime),
)

status_changes = Table(
    "status_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16), nullable=False),
    # Set by the one notifier that claimed this flip, so several schedulers send it once.
    Column("notified_at", UTCDateTime),
)
Index("ix_status_changes_task", status_changes.c.task, status_changes.c.at)
# The notifier asks every few seconds whether any flip is unclaimed. Only unclaimed flips are
# in this index: without it the question read every flip ever recorded (37 ms at a million).
Index(
    "ix_status_changes_unclaimed",
    status_changes.c.id,
    sqlite_where=status_changes.c.notified_at.is_(None),
    postgresql_where=status_changes.c.notified_at.is_(None),
)

workers = Table(
    "workers",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("tags", Text, nullable=False, server_default=text("''")),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime),
)

# The shards of a fanned-out run (``fan_out``): each a batch of the run's items that any
# worker with the task's tags claims and holds by lease, as it would a run.
run_shards = Table(
    "run_shards",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    # The shard's items: instance ids in (after_id, upto_id], or the paths under prefix.
    Column("after_id", BigInteger),
    Column("upto_id", BigInteger),
    Column("prefix", Text),
    Column("state", String(16), nullable=False),
    Column("attempt", Integer, nullable=False, server_default=text("0")),
    Column("worker", String(200)),
    Column("lease_expires_at", UTCDateTime),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("items", BigInteger, nullable=False, server_default=text("0")),
    Column("bytes", BigInteger, nullable=False, server_default=text("0")),
    Column("error", Text),
    Column("sticky", Boolean, nullable=False, server_default=text("false")),
    UniqueConstraint("run_id", "number", name="uq_run_shards_run_number"),
)
# Claims look for a run's free shards and count its busy ones.
Index("ix_run_shards_run_state", run_shards.c.run_id, run_shards.c.state)
