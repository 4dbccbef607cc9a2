"""Benchmark: `scan` of a 1,000,000-file store against `find -printf` of the same tree.

Not a test; nothing here is asserted. Run ``python bench/scan.py [--files N] [--rounds N]``.
The tree of empty files is built once under bench/data/ and reused. Each scan runs in a
child process, which times the scan itself (not interpreter start-up) and reads its own peak
RSS. Before each timed part PostgreSQL is checkpointed, so that none pays for the WAL of the
one before (with the default ``max_wal_size`` a first scan can set off a checkpoint).
PostgreSQL is ``$SEXTON_TEST_PG`` (a throwaway schema); it is skipped if unreachable.

The ``postgres floor`` line is PostgreSQL alone inserting the rows a first scan of the tree
writes, into the same tables and indexes: no listing, no client, no batches, one backend.
A first scan that spreads its batches over two connections (as Sexton's does) can beat it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import suppress
from pathlib import Path
from resource import RUSAGE_CHILDREN, RUSAGE_SELF, getrusage

import sqlalchemy as sa

DATA = Path(__file__).parent / "data"
PG_URL = os.environ.get("SEXTON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PG_ADMIN_URL = PG_URL.replace("postgresql://", "postgresql+psycopg://")
PER_DIRECTORY = 1000  # files per leaf directory, like a crawler's dated WARC directories


def build_tree(files: int) -> Path:
    """``files`` empty files in leaf directories of 1,000, made once (renamed when complete)."""
    root = DATA / f"tree-{files}"
    if root.is_dir():
        return root
    partial = DATA / f"tree-{files}.partial"
    for index in range(files):
        leaf, number = divmod(index, PER_DIRECTORY)
        directory = partial / f"{leaf // 10:02d}" / f"{leaf % 10}"
        if number == 0:
            directory.mkdir(parents=True, exist_ok=True)
        os.close(os.open(directory / f"file-{number:04d}.warc.gz", os.O_CREAT | os.O_WRONLY, 0o644))
    partial.rename(root)
    return root


def time_find(root: Path) -> float:
    command = f"find {root} -type f -printf '%p %s %T@\\n' > /dev/null"
    subprocess.run(command, shell=True, check=True)  # warm the inode cache
    start = time.perf_counter()
    subprocess.run(command, shell=True, check=True)
    return time.perf_counter() - start


def scan_in_child(database: str, root: Path) -> tuple[float, dict[str, int], int]:
    """Seconds the scan took, its report, and its peak RSS (KiB), its own listing process's
    included."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", database, str(root)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out)
    return result["seconds"], result["report"], result["peak_rss"]


def child(database: str, root: str) -> None:
    from sexton.catalog import Catalog, ScanPlan
    from sexton.clock import SystemClock
    from sexton.db import connect, upgrade
    from sexton.stores import StoreSettings, open_store

    engine = connect(database)
    upgrade(engine)  # a fresh database, or one left by an earlier run of an older Sexton
    store = open_store("bench", StoreSettings(url=root))
    catalog = Catalog(engine, SystemClock())
    start = time.perf_counter()
    plan = ScanPlan(store="bench", source="scan:bench", read_ahead=store.listing_waits)  # as `scan`
    report, _ = catalog.reconcile(plan, store.walk)
    seconds = time.perf_counter() - start
    peak = max(getrusage(who).ru_maxrss for who in (RUSAGE_SELF, RUSAGE_CHILDREN))
    print(json.dumps({"seconds": seconds, "report": report.to_json(), "peak_rss": peak}))


# Plain inserts, the least a first scan can ask of the server when no name is catalogued yet.
FLOOR_STATEMENTS = (
    "INSERT INTO files (name, size, created_at, ingested_at, source)"
    " SELECT name, size, to_timestamp(mtime), now(), 'scan:bench' FROM listing ORDER BY name",
    "INSERT INTO instances (file_id, store, path, state, size_seen, mtime_seen, seen_at)"
    " SELECT f.id, 'bench', l.name, 'present', l.size, l.mtime, now()"
    " FROM listing l JOIN files f ON f.name = l.name ORDER BY l.name",
)


def floor_in_child(database: str, schema: str, root: Path) -> float:
    """``postgres_floor`` in a child process: the listing it holds would stay in this
    process's RSS, and so in that of every scan started after it (each starts as a copy)."""
    out = subprocess.run(
        [sys.executable, __file__, "--floor", database, schema, str(root)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out)


def postgres_floor(database: str, schema: str, root: Path) -> float:
    """Seconds the server takes for a first scan's inserts of ``root``, set-based, in one
    transaction, into a fresh catalog beside ``schema``. The listing is copied into a
    temporary table first, untimed."""
    from sexton.db import connect, upgrade
    from sexton.stores import StoreSettings, open_store

    admin = sa.create_engine(PG_ADMIN_URL)
    floor_schema = f"{schema}_floor"
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {floor_schema}"))
    engine = connect(database.replace(schema, floor_schema))
    upgrade(engine)
    store = open_store("bench", StoreSettings(url=str(root)))  # the names a scan records
    rows = [(entry.name, entry.size, entry.mtime) for entry in store.walk()]
    connection = engine.raw_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMPORARY TABLE listing"
                " (name text NOT NULL, size bigint NOT NULL, mtime double precision)"
            )
            with cursor.copy("COPY listing FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute("ANALYZE listing")
            connection.commit()
            checkpoint(admin)
            start = time.perf_counter()
            cursor.execute("SET synchronous_commit = off")
            for statement in FLOOR_STATEMENTS:
                cursor.execute(statement)
            connection.commit()
            return time.perf_counter() - start
    finally:
        connection.close()
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA {floor_schema} CASCADE"))


def databases() -> list[tuple[str, str, sa.Engine | None, str | None]]:
    sqlite_file = DATA / "scan-bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)
    found: list[tuple[str, str, sa.Engine | None, str | None]] = [
        ("sqlite", f"sqlite:///{sqlite_file}", None, None)
    ]
    admin = sa.create_engine(PG_ADMIN_URL)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    except sa.exc.OperationalError:
        print(f"PostgreSQL at {PG_URL} unreachable: skipped")
        return found
    found.append(("postgres", f"{PG_URL}?options=-csearch_path%3D{schema}", admin, schema))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="scan and measure the floor this many times; on a noisy machine, read the median",
    )
    parser.add_argument("--child", nargs=2, metavar=("DATABASE", "ROOT"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--floor", nargs=3, metavar=("DATABASE", "SCHEMA", "ROOT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.floor:
        database, schema, root = args.floor
        print(postgres_floor(database, schema, Path(root)))
        return
    root = build_tree(args.files)
    find = time_find(root)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{args.files} files, {os.cpu_count()} CPUs, load average {load}", flush=True)
    print(f"find -printf: {find:.2f} s", flush=True)
    print(f"{'database':<14} {'scan':>8} {'ratio':>6} {'rescan':>8} {'ratio':>6} {'peak RSS':>9}")
    to_floor: list[float] = []
    for _ in range(args.rounds):
        for name, url, admin, schema in databases():
            first = scan_twice(name, url, admin, schema, root, args.files, find)
            if schema is not None:
                floor = floor_in_child(url, schema, root)
                to_floor.append(first / floor)
                print(
                    f"{name + ' floor':<14} {floor:>7.2f}s {floor / find:>5.1f}x"
                    f"   first scan / floor {first / floor:.2f}x",
                    flush=True,
                )
    if len(to_floor) > 1:
        ratios = ", ".join(f"{r:.2f}" for r in to_floor)
        print(f"postgres first scan / floor: median {statistics.median(to_floor):.2f}x ({ratios})")


def scan_twice(
    name: str,
    url: str,
    admin: sa.Engine | None,
    schema: str | None,
    root: Path,
    files: int,
    find: float,
) -> float:
    """A first scan and a rescan of ``root``, printed as one line; the first scan's seconds."""
    try:
        checkpoint(admin)
        first, report, _ = scan_in_child(url, root)
        assert report["new"] == files, report
        checkpoint(admin)
        again, report, peak = scan_in_child(url, root)
        assert report["new"] == report["changed"] == report["missing"] == 0, report
    finally:
        if admin is not None:
            with admin.begin() as connection:
                connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    print(
        f"{name:<14} {first:>7.2f}s {first / find:>5.1f}x {again:>7.2f}s {again / find:>5.1f}x"
        f" {peak / 1024:>6.0f} MB   (load average {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    return first


def checkpoint(admin: sa.Engine | None) -> None:
    """Write PostgreSQL's dirty pages out now, if this role may (a superuser's right)."""
    if admin is None:
        return
    with admin.connect() as connection, suppress(sa.exc.ProgrammingError):
        connection.execute(sa.text("CHECKPOINT"))  # refused: the figures carry that noise


if __name__ == "__main__":
    main()
