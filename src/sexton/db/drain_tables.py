"""The drain record: series of source files on their way to the archive, and the switches.

These rows replace the draintasker's marker files (PACKED, MANIFEST, TOMBSTONE, RETRY.epoch,
ERROR, DRAINME, FINISH_DRAIN): each step of a series is committed here before the next
begins, so a drain killed at any instant resumes where it was. On the shared ``metadata``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from .tables import metadata
from .types import UTCDateTime

# One row per drain task that a person switched: running | stopped | finishing.
drain_switches = Table(
    "drain_switches",
    metadata,
    Column("task", String(200), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
)

drain_series = Table(
    "drain_series",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task", String(200), nullable=False),
    Column("serial", Integer, nullable=False),
    Column("name", Text, nullable=False),  # the series directory in the destination
    # The next step to do: manifest | transfer | verify | tombstone | delete | done, or
    # error (sticky until `sexton clear`; `resume` says where to start again).
    Column("state", String(16), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("files", Integer, nullable=False),
    Column("error", Text),
    Column("resume", String(16)),  # the step a cleared error starts again from
    Column("error_run", Integer),  # the run that found the error, to tell when it is cleared
    Column("retry_at", UTCDateTime),  # when a failed transfer is tried again (RETRY.epoch)
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Two runs packing at once would both take the next serial: the second insert fails.
    UniqueConstraint("task", "serial", name="uq_drain_series_task"),
)
Index("ix_drain_series_task_state", drain_series.c.task, drain_series.c.state)

drain_files = Table(
    "drain_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("series_id", Integer, ForeignKey("drain_series.id", ondelete="CASCADE"), nullable=False),
    Column("path", Text, nullable=False),  # in the source store
    Column("target", Text, nullable=False),  # in the destination store, under the series
    Column("size", BigInteger, nullable=False),
    Column("checksum", String(200)),  # ``algo:hex``, set by the manifest step
    Column("copied_at", UTCDateTime),  # the transfer of this file completed
    Column("tombstone", Text),  # ``store:path`` of its verified copy; deletion needs it
    Column("deleted_at", UTCDateTime),  # removed from the source
    UniqueConstraint("series_id", "path", name="uq_drain_files_series_id"),
)
Index("ix_drain_files_path", drain_files.c.path)
