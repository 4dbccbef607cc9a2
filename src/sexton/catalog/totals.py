"""The catalog's maintained totals: files and bytes, and copies and bytes per store and state.

Triggers keep them (migration 0017) in the transaction of every write to ``files`` and
``instances``, so reading them costs a few rows however large the catalog. On PostgreSQL each
writing statement appends its own rows; ``fold`` sums them back into one row per key.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, select, text

from sexton.db import is_postgres
from sexton.db.catalog_tables import file_totals, files, instance_totals, instances

# Rows beyond one per key that a read tolerates before folding: summing them is cheap, but
# their number grows with every statement that changes a state.
FOLD_AFTER = 1000

# Rows locked by a fold or a writer still in progress are left for the next fold (SKIP
# LOCKED), so a fold never waits, and a row folded by one is never folded again by another.
# Totals that came to nothing leave no row.
_FOLD_FILES = """
WITH folded AS (
    DELETE FROM file_totals WHERE id IN (SELECT id FROM file_totals FOR UPDATE SKIP LOCKED)
    RETURNING files, bytes
)
INSERT INTO file_totals (files, bytes) SELECT sum(files), sum(bytes) FROM folded
HAVING sum(files) <> 0 OR sum(bytes) <> 0
"""
_FOLD_INSTANCES = """
WITH folded AS (
    DELETE FROM instance_totals
    WHERE id IN (SELECT id FROM instance_totals FOR UPDATE SKIP LOCKED)
    RETURNING store, state, copies, bytes
)
INSERT INTO instance_totals (store, state, copies, bytes)
SELECT store, state, sum(copies), sum(bytes) FROM folded GROUP BY store, state
HAVING sum(copies) <> 0 OR sum(bytes) <> 0
"""


@dataclass(frozen=True, slots=True)
class Held:
    copies: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Totals:
    files: int
    bytes: int
    copies: dict[tuple[str, str], Held]  # (store, state) -> copies held
    rows: int  # rows read: more than keys means unfolded deltas

    def held(self, store: str, states: tuple[str, ...]) -> Held:
        found = [self.copies[store, state] for state in states if (store, state) in self.copies]
        return Held(sum(h.copies for h in found), sum(h.bytes for h in found))


def read_totals(connection: Connection) -> Totals:
    """The totals now; copies recorded without a size count their file's size."""
    count, size, file_rows = connection.execute(
        select(
            func.coalesce(func.sum(file_totals.c.files), 0),
            func.coalesce(func.sum(file_totals.c.bytes), 0),
            func.count(),
        )
    ).one()
    by_key = select(
        instance_totals.c.store,
        instance_totals.c.state,
        func.sum(instance_totals.c.copies),
        func.sum(instance_totals.c.bytes),
        func.count(),
    ).group_by(instance_totals.c.store, instance_totals.c.state)
    copies: dict[tuple[str, str], Held] = {}
    rows = int(file_rows)
    for store, state, n, nbytes, key_rows in connection.execute(by_key):
        rows += int(key_rows)
        if n:
            copies[store, state] = Held(int(n), int(nbytes))
    # Served by the partial index ix_instances_unsized: as many rows as such copies (none, in
    # a catalog scanned since sizes were recorded). Summed here: with a GROUP BY, SQLite read
    # every copy through the (store, state, ...) index instead (1.4 s at 1M copies).
    unsized = (
        select(instances.c.store, instances.c.state, files.c.size)
        .join_from(instances, files, instances.c.file_id == files.c.id)
        .where(instances.c.size_seen.is_(None))
    )
    for store, state, nbytes in connection.execute(unsized):
        held = copies.get((store, state), Held(0, 0))
        copies[store, state] = Held(held.copies, held.bytes + int(nbytes))
    return Totals(int(count), int(size), copies, rows)


def fold_if_due(engine: Engine, totals: Totals) -> None:
    """Fold PostgreSQL's appended rows once there are many (SQLite keeps one row per key),
    unless this engine may not write (``sexton plan``): the next reader that may will."""
    if not is_postgres(engine) or engine.get_execution_options().get("postgresql_readonly"):
        return
    if totals.rows > len(totals.copies) + 1 + FOLD_AFTER:
        fold(engine)


def fold(engine: Engine) -> None:
    """Replace the rows of each total by one holding their sum; the totals stay the same."""
    with engine.begin() as connection:
        connection.execute(text(_FOLD_FILES))
        connection.execute(text(_FOLD_INSTANCES))
