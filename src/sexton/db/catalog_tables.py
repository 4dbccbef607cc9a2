"""The catalog's tables: files, their instances on stores, marks, damage and transfers.

On the same ``metadata`` as the engine's tables, so one Alembic history covers both.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from .tables import metadata
from .types import UTCDateTime

files = Table(
    "files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # For scanned files: the path relative to the store root, the same on every store.
    Column("name", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    # ``algo:hex``; NULL until the file is first hashed (scan with checksum_new, or fixity).
    Column("checksum", String(200)),
    Column("created_at", UTCDateTime),  # the file's mtime when first seen
    Column("ingested_at", UTCDateTime, nullable=False),
    Column("source", String(200)),  # how it came in: "scan:STORE", "import:STORE", ...
    Column("metadata", JSON, key="meta"),
    UniqueConstraint("name", name="uq_files_name"),
)
# `needs` walks files newest first and stops at its limit.
Index("ix_files_created_at", files.c.created_at, files.c.id)

instances = Table(
    "instances",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_id", Integer, ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
    Column("store", String(200), nullable=False),
    Column("path", Text, nullable=False),
    Column("state", String(16), nullable=False),  # present | missing | corrupt | deleted
    Column("deletion_policy", String(32), nullable=False, server_default=text("'disallowed'")),
    Column("size_seen", BigInteger),
    Column("mtime_seen", Float),  # POSIX seconds as the store reported them; compared exactly
    # Set when a rescan found another size or mtime than the one recorded.
    Column("changed_at", UTCDateTime),
    # When a listing last wrote this row: on arrival, on change, on reappearing, in a sweep.
    # An unchanged rescan does not touch it: that would rewrite every row of the store.
    Column("seen_at", UTCDateTime),
    # The token of the last sweep for vanished files that listed this copy (see reconcile):
    # a token, not a time, so that copies seen and unseen within one clock tick differ.
    Column("swept", String(32)),
    Column("verified_at", UTCDateTime),
    Column("verified_checksum", String(200)),
    UniqueConstraint("store", "path", name="uq_instances_store_path"),
)
Index("ix_instances_file_id", instances.c.file_id)
# Fixity checks of one store, least recently verified first; its (store, state) prefix also
# finds "instances of store S in state X" (stats, ls --state, needs --store, clones) without a
# table scan. No second index on that prefix: a first scan writes an entry in each per copy.
Index(
    "ix_instances_store_verified_at",
    instances.c.store,
    instances.c.state,
    instances.c.verified_at,
)
# The few copies recorded without a size (none since the scan records one): their bytes are
# their file's, which the maintained totals cannot follow, so the reader adds them up here.
Index(
    "ix_instances_unsized",
    instances.c.file_id,
    sqlite_where=instances.c.size_seen.is_(None),
    postgresql_where=instances.c.size_seen.is_(None),
)

# Totals kept by triggers on ``files`` and ``instances`` (migration 0017), in the writing
# transaction, so `catalog stats` reads a few rows instead of aggregating the catalog. A total
# is the sum of its rows: SQLite's row triggers keep one row per key (its writers take turns);
# PostgreSQL's statement triggers append one row per key and statement, so that concurrent
# writers never wait on a shared row, and `catalog.totals` folds them now and then.
file_totals = Table(
    "file_totals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("files", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
)
# Copies and their ``size_seen`` (NULL counted as 0) per store and state.
instance_totals = Table(
    "instance_totals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store", String(200), nullable=False),
    Column("state", String(16), nullable=False),
    Column("copies", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
)
Index("ix_instance_totals_store", instance_totals.c.store, instance_totals.c.state)

# Each hashed file's verified copies (local and confirmed remote) and the sites holding them,
# recounted by triggers on every write that can change them (migration 0018): the copies
# policy reads the files below its largest rule by these indexes instead of judging them all.
file_copies = Table(
    "file_copies",
    metadata,
    Column(
        "file_id",
        Integer,
        ForeignKey("files.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("copies", Integer, nullable=False),
    Column("sites", Integer, nullable=False),
)
Index("ix_file_copies_copies", file_copies.c.copies)
Index("ix_file_copies_sites", file_copies.c.sites)

marks = Table(
    "marks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_id", Integer, ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    # '' for a mark without a value: NULLs would slip past the unique constraint.
    Column("value", String(500), nullable=False, server_default=text("''")),
    Column("marked_at", UTCDateTime, nullable=False),
    # Also the index `needs` probes: "has this file got mark M (with value V)?"
    UniqueConstraint("file_id", "name", "value", name="uq_marks_file_id"),
)
Index("ix_marks_name_value", marks.c.name, marks.c.value)

# Every check of a copy: what it found (match | mismatch | damaged | missing), when, in
# which run. `instances.verified_at` is the latest match; this is the history behind it, read
# by PREMIS export and `catalog show`. Appended in the check's own transaction.
fixity_checks = Table(
    "fixity_checks",
    metadata,
    # Big: a check per copy per cycle outgrows 2**31 rows on a large archive within years.
    # (SQLite's own integer is 64-bit, but only INTEGER PRIMARY KEY autoincrements.)
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("instance_id", Integer, ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
    Column("run_id", Integer),  # None: checked outside a run (an arrival from another site)
    Column("at", UTCDateTime, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("checksum", String(200)),  # what the check computed; None if the copy was gone
    Column("detail", Text),  # what was expected, or what damage the content showed
)
Index("ix_fixity_checks_instance_id", fixity_checks.c.instance_id, fixity_checks.c.at)
Index("ix_fixity_checks_at", fixity_checks.c.at, fixity_checks.c.id)

corrupt_files = Table(
    "corrupt_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_id", Integer, ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
    Column("instance_id", Integer, ForeignKey("instances.id", ondelete="SET NULL")),
    Column("store", String(200), nullable=False),
    Column("count", Integer, nullable=False, server_default=text("1")),  # times damage was seen
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("expected", String(200)),
    Column("actual", String(200)),
    # Set by the one notifier that claimed this damage, so several schedulers send it once.
    Column("notified_at", UTCDateTime),
)
Index("ix_corrupt_files_file_id", corrupt_files.c.file_id)
# Unclaimed damage, for the notifier's poll (as ix_status_changes_unclaimed).
Index(
    "ix_corrupt_files_unclaimed",
    corrupt_files.c.id,
    sqlite_where=corrupt_files.c.notified_at.is_(None),
    postgresql_where=corrupt_files.c.notified_at.is_(None),
)

# Copies held by another site, counted towards `number_of_copies` only once confirmed.
remote_instances = Table(
    "remote_instances",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_id", Integer, ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
    Column("site", String(200), nullable=False),
    Column("store", String(200), nullable=False),
    Column("checksum", String(200)),  # as the destination verified it; NULL until confirmed
    Column("confirmed_at", UTCDateTime),
    UniqueConstraint("file_id", "site", "store", name="uq_remote_instances_file_id"),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # NULL for an incoming file until it is ingested: the destination has no file row before.
    Column("file_id", Integer, ForeignKey("files.id", ondelete="CASCADE")),
    Column("direction", String(8), nullable=False),  # outgoing | incoming
    Column("site", String(200), nullable=False),  # the other end
    # initiated -> ongoing -> staged -> completed | failed | cancelled
    Column("state", String(16), nullable=False),
    Column("batch", String(200)),
    Column("started_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("error", Text),
    Column("name", Text),  # the file's name, the same at both ends
    Column("size", BigInteger),
    Column("checksum", String(200)),  # what the source's catalog holds (``algo:hex``)
    # Outgoing: the store read from. Incoming: the store the file is ingested into.
    Column("store", String(200)),
    Column("remote_id", Integer),  # the other end's transfer id, for callbacks
    Column("staging_path", Text),  # where the bytes wait at the destination before ingest
    # The destination said no. State cancelled (no room, a disabled store): offered again after
    # send_clone's reoffer_refused_after. State failed (another checksum): not offered again
    # until `sexton clear` of the sending task sets this back to false (the error stays).
    Column("refused", Boolean, nullable=False, server_default=text("false")),
)
Index("ix_transfers_file_id", transfers.c.file_id)
Index("ix_transfers_state", transfers.c.state, transfers.c.site)
Index("ix_transfers_batch", transfers.c.batch)

# One item per batch that `send_clone` handed over; `consume_queue` moves its bytes.
transfer_queue = Table(
    "transfer_queue",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch", String(200), nullable=False),
    Column("site", String(200), nullable=False),
    Column("state", String(16), nullable=False),  # pending | consuming | done | failed
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("not_before", UTCDateTime, nullable=False),  # retry backoff
    # A consumer that died leaves its lease to run out, and the item is taken again.
    Column("claimed_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("error", Text),
    UniqueConstraint("batch", name="uq_transfer_queue_batch"),
)
Index("ix_transfer_queue_state", transfer_queue.c.state, transfer_queue.c.not_before)

# What repair did about a damaged copy, kept beside its damage (``corrupt_files``): `detected`
# when a repair first took the copy up, `repaired` with the source, or `lost` when no good copy
# of the file was left anywhere. The instance row itself only ever shows the latest state.
repairs = Table(
    "repairs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_id", Integer, ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
    Column("instance_id", Integer, ForeignKey("instances.id", ondelete="SET NULL")),
    Column("store", String(200), nullable=False),  # the damaged copy's store
    Column("event", String(16), nullable=False),  # detected | repaired | lost
    Column("source", String(400)),  # repaired from: `store NAME` or `site NAME/STORE`
    Column("detail", Text),  # what was wrong (`corrupt`, `missing`), or why not repaired
    Column("run_id", Integer),
    Column("at", UTCDateTime, nullable=False),
)
Index("ix_repairs_file_id", repairs.c.file_id, repairs.c.id)

# What was done to copies that the rest of the catalog does not date: a clone registered, an
# arrival from another site, a deletion. Append-only; `sexton events export` reads it (with
# fixity from instances and corrupt_files, transfers from transfers) as PREMIS events.
preservation_events = Table(
    "preservation_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(32), nullable=False),  # replication | ingestion | deletion | ...
    Column("outcome", String(16), nullable=False),  # success | failure
    # The name, not only the id: the history outlives the file's row.
    Column("file_id", Integer, ForeignKey("files.id", ondelete="SET NULL")),
    Column("name", Text, nullable=False),
    Column("store", String(200), nullable=False),
    Column("path", Text),
    Column("checksum", String(200)),  # the copy's, as verified when the event happened
    Column("detail", Text),
)
Index("ix_preservation_events_at", preservation_events.c.at, preservation_events.c.id)
