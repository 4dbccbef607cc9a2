"""Benchmark: how the catalog's costs grow with it, on synthetic catalogs of 1M and 10M copies.

Not a test; nothing here is asserted. Run ``python bench/scale.py [--copies N ...]
[--sqlite N ...] [--drop]``. Each catalog (one file per copy, one store) is made once by
set-based SQL into tables made by Sexton's migrations, and kept for the next run: on
PostgreSQL (``$SEXTON_TEST_PG``) in schema ``scale_N``, on SQLite in ``bench/data/``
(``$SEXTON_SCALE_PREFIX`` names them otherwise);
``--drop`` removes them afterwards.

Measured per catalog, each in a child process (so its peak RSS is its own): ``catalog
stats`` (without, then with the copies policy's under-replicated and lost counts, as the CLI
and the API give them); the dashboard's front page, a GET through the real app on loopback;
``needs()`` of 1,000 files; choosing the next fixity batch (the run's COUNT, then its first
page); the catalog side of a whole fixity run (every page of due copies, no hashing); and a
no-change rescan with a store-free listing that matches the catalog (the catalog side of a
rescan).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

DATA = Path(__file__).parent / "data"
PG_URL = os.environ.get("SEXTON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
# The catalogs' schema (PostgreSQL) and file (SQLite) names: another name keeps a branch with
# other migrations from upgrading the catalogs that other checkouts measure.
PREFIX = os.environ.get("SEXTON_SCALE_PREFIX", "scale")
READ_TOKEN = "bench-read-token"
EPOCH = 1577836800  # 2020-01-01 UTC: copy i has mtime EPOCH + i, verified i % 97 days later
PER_DIRECTORY = 1000

# One file per copy; a tenth of the copies never verified, the rest spread over 97 days.
PG_FILES = """
INSERT INTO files (name, size, checksum, created_at, ingested_at, source)
SELECT format('d%s/f%s.warc.gz', i / 1000, i), 1000 + i % 1000, 'md5:' || md5(i::text),
       to_timestamp(:epoch + i) AT TIME ZONE 'UTC', to_timestamp(:epoch + i) AT TIME ZONE 'UTC',
       'scan:store'
FROM generate_series(1, :n) AS i
"""
PG_COPIES = """
INSERT INTO instances (file_id, store, path, state, size_seen, mtime_seen, seen_at,
                       verified_at, verified_checksum)
SELECT id, 'store', name, 'present', size, :epoch + id, created_at,
       CASE WHEN id % 10 = 0 THEN NULL ELSE created_at + (id % 97) * interval '1 day' END,
       checksum
FROM files
"""
# SQLite has no generate_series by default: a recursive count. Times in UTCDateTime's text.
SQLITE_FILES = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n)
INSERT INTO files (name, size, checksum, created_at, ingested_at, source)
SELECT printf('d%d/f%d.warc.gz', i / 1000, i), 1000 + i % 1000, 'md5:' || hex(randomblob(16)),
       datetime(:epoch + i, 'unixepoch') || '.000000',
       datetime(:epoch + i, 'unixepoch') || '.000000', 'scan:store'
FROM n
"""
SQLITE_COPIES = """
INSERT INTO instances (file_id, store, path, state, size_seen, mtime_seen, seen_at,
                       verified_at, verified_checksum)
SELECT id, 'store', name, 'present', size, :epoch + id, created_at,
       CASE WHEN id % 10 = 0 THEN NULL
            ELSE datetime(:epoch + id + (id % 97) * 86400, 'unixepoch') || '.000000' END,
       checksum
FROM files
"""


def database_url(kind: str, copies: int) -> str:
    if kind == "sqlite":
        return f"sqlite:///{DATA / f'{PREFIX}-{copies}.db'}"
    return f"{PG_URL}?options=-csearch_path%3D{PREFIX}_{copies}"


def admin() -> sa.Engine:
    return sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))


def make_catalog(kind: str, copies: int) -> float:
    """Seconds to make the catalog; 0 if it was there, whole, from an earlier run. Made
    afresh otherwise, so that copy i has id i (its mtime and verification derive from it)."""
    from sexton.db import connect, upgrade

    if _whole(kind, copies):
        engine = connect(database_url(kind, copies))
        upgrade(engine)  # made by an older Sexton: migrated as an operator's would be
        engine.dispose()
        return 0.0
    drop_catalog(kind, copies)
    if kind == "postgres":
        with admin().begin() as connection:
            connection.execute(sa.text(f"CREATE SCHEMA {PREFIX}_{copies}"))
    DATA.mkdir(exist_ok=True)
    engine = connect(database_url(kind, copies))
    upgrade(engine)
    start = time.perf_counter()
    files, instances = (
        (PG_FILES, PG_COPIES) if kind == "postgres" else (SQLITE_FILES, SQLITE_COPIES)
    )
    with engine.begin() as connection:
        rebuilt = _without_indexes(connection) if kind == "postgres" else []
        connection.execute(sa.text(files), {"n": copies, "epoch": EPOCH})
        connection.execute(sa.text(instances), {"epoch": EPOCH})
        for statement in rebuilt:
            connection.execute(sa.text(statement))
    with engine.connect() as connection:
        connection.execute(sa.text("ANALYZE"))
        connection.commit()
    engine.dispose()
    return time.perf_counter() - start


def _without_indexes(connection: sa.Connection) -> list[str]:
    """Drop the migrations' indexes and constraints (but the primary keys, and the index the
    triggers read) of files and instances; return the statements that make them again,
    exactly as they were. Building an index once over 10M rows is many times faster than
    updating it 10M times."""
    constraints = connection.execute(
        sa.text(
            "SELECT 'ALTER TABLE ' || conrelid::regclass || ' ADD CONSTRAINT ' || conname"
            " || ' ' || pg_get_constraintdef(oid), conrelid::regclass::text, conname"
            " FROM pg_constraint WHERE conrelid IN ('files'::regclass, 'instances'::regclass)"
            " AND contype IN ('f', 'u') ORDER BY contype"
        )
    ).all()
    indexes = connection.execute(
        sa.text(
            "SELECT indexdef, indexname FROM pg_indexes WHERE schemaname = current_schema()"
            " AND tablename IN ('files', 'instances') AND indexname NOT IN"
            " (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))"
            # kept: the triggers of file_copies count each file's copies through it
            " AND indexname <> 'ix_instances_file_id'"
        )
    ).all()
    for _, table, name in constraints:  # the foreign key ('f') first, then what it needs
        connection.execute(sa.text(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
    for _, name in indexes:
        connection.execute(sa.text(f"DROP INDEX {name}"))
    return [r[0] for r in reversed(constraints)] + [r[0] for r in indexes]


def _whole(kind: str, copies: int) -> bool:
    engine = sa.create_engine(
        database_url(kind, copies).replace("postgresql://", "postgresql+psycopg://")
    )
    try:
        with engine.connect() as connection:
            count = connection.execute(sa.text("SELECT count(*) FROM instances")).scalar_one()
    except sa.exc.DBAPIError:
        return False
    finally:
        engine.dispose()
    return bool(count == copies)


def drop_catalog(kind: str, copies: int) -> None:
    if kind == "postgres":
        with admin().begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {PREFIX}_{copies} CASCADE"))
    else:
        Path(database_url(kind, copies).removeprefix("sqlite:///")).unlink(missing_ok=True)


def listing(copies: int) -> Iterator[object]:
    """What a store matching the catalog would list: the same names, sizes and mtimes."""
    from sexton.stores import EntryInfo

    for i in range(1, copies + 1):
        yield EntryInfo(f"d{i // PER_DIRECTORY}/f{i}.warc.gz", 1000 + i % 1000, float(EPOCH + i))


def child(database: str, copies: int) -> None:
    """Every measurement on one catalog: seconds, and this process's peak RSS after each."""
    from sexton.api.server import ApiServer
    from sexton.catalog import Catalog, CopiesPolicy, OpenStores, ScanPlan
    from sexton.cli.common import read_config
    from sexton.engine.service import Instance

    measured: dict[str, tuple[float, int]] = {}

    def timed(name: str, work: Callable[[], object]) -> object:
        start = time.perf_counter()
        result = work()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        measured[name] = (time.perf_counter() - start, peak)
        return result

    with tempfile.TemporaryDirectory() as scratch:
        store = Path(scratch) / "store"
        store.mkdir()
        config = Path(scratch) / "sexton.yaml"
        config.write_text(
            f"database: '{database}'\n"
            f"api: {{listen: '127.0.0.1:0', tokens: {{read: {READ_TOKEN}}}}}\n"
            f"stores:\n  store: {{url: '{store.as_uri()}'}}\n"
            "tasks:\n  - {name: fixity, type: check_integrity, store_name: store, rolling: true}\n"
        )
        instance = Instance.open(read_config(config))
        catalog = Catalog(instance.engine, instance.clock)
        stores = OpenStores(instance.config.settings.stores)
        timed("catalog stats", lambda: catalog.stats(stores))
        policy = CopiesPolicy.of(instance.config.settings)  # what `sexton catalog stats` adds
        timed("stats + copies", lambda: catalog.stats(stores, policy))
        server = ApiServer(instance)
        url = server.start()
        with httpx.Client(
            base_url=url, timeout=600, headers={"Authorization": f"Bearer {READ_TOKEN}"}
        ) as web:
            web.get("/").raise_for_status()  # templates compiled, connections opened
            timed("dashboard /", lambda: web.get("/").raise_for_status())
        server.stop()
        timed("needs 1000", lambda: catalog.needs("cdx_indexed", store="store", limit=1000))
        before = catalog.clock.now() - timedelta(days=30)
        total = timed("fixity count", lambda: catalog.count_due("store", before))
        timed("fixity batch", lambda: next(catalog.due_for_check("store", before, limit=256)))
        walked = timed(
            "fixity pages",
            lambda: sum(len(p) for p in catalog.due_for_check("store", before, limit=total)),
        )
        plan = ScanPlan(store="store", source="scan:store")
        report, _ = timed("rescan", lambda: catalog.reconcile(plan, lambda: listing(copies)))
    print(json.dumps({"measured": measured, "due": walked, "report": report.to_json()}))


def measure(kind: str, copies: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", database_url(kind, copies), str(copies)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"{kind} {copies:,} copies: the measurement failed:\n{done.stderr}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


PER_ITEM = {"fixity pages": "due", "rescan": "copies"}  # costs that should be flat per copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--sqlite", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--drop", action="store_true", help="drop the catalogs afterwards")
    parser.add_argument("--child", nargs=2, metavar=("DATABASE", "COPIES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    print(f"{os.cpu_count()} CPUs, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    results: dict[tuple[str, int], dict[str, object]] = {}
    for kind, sizes in (("sqlite", args.sqlite), ("postgres", args.copies)):
        for copies in sizes:
            made = make_catalog(kind, copies)
            print(
                f"{kind} {copies:,} copies: made in {made:.1f} s"
                if made
                else f"{kind} {copies:,} copies: reused"
            )
            results[kind, copies] = measure(kind, copies)
            if args.drop:
                drop_catalog(kind, copies)
    print_table(results)


def print_table(results: dict[tuple[str, int], dict[str, object]]) -> None:
    """Seconds (and per-copy microseconds for the walks), peak RSS, and the growth from the
    smallest catalog of each database: a flat per-copy cost keeps its ratio near 1."""
    print(
        f"{'database':9} {'copies':>11} {'measurement':14} {'seconds':>9} {'µs/copy':>8}"
        f" {'peak RSS':>9} {'× smallest':>10}"
    )
    smallest: dict[tuple[str, str], float] = {}
    for (kind, copies), result in sorted(results.items()):
        measured = result["measured"]
        assert isinstance(measured, dict)
        for name, (seconds, peak_kib) in measured.items():
            items = copies if name in PER_ITEM else None
            cost = seconds / items * 1e6 if items else seconds
            base = smallest.setdefault((kind, name), cost)
            per_copy = f"{cost:8.2f}" if items else " " * 8
            print(
                f"{kind:9} {copies:>11,} {name:14} {seconds:9.3f} {per_copy}"
                f" {peak_kib / 1024:7.0f} MB {cost / base:9.2f}×"
            )


if __name__ == "__main__":
    main()
