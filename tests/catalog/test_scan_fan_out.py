"""A scan fanned out by directory (``fan_out``) leaves exactly the catalog a plain scan
leaves: root files, nested directories, a directory that vanished, rewritten files, globs,
``prefixes`` and ``min_age`` alike; it changes nothing when run again; and two worker
processes on one PostgreSQL share its shards."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from catalog_support import OLD, catalog_of, put, run_task

from engine.test_processes import SEXTON, pg_only, start, stop, wait_for  # noqa: F401
from sexton.db import connect
from sexton.db.catalog_tables import files, instances
from sexton.db.tables import run_events, run_shards, runs, workers
from sexton.engine.service import Instance
from sexton.engine.states import FINISHED
from sexton.tasks.base import ShardBounds
from sexton.tasks.scan_shards import ScanShard

# Every scan task of these tests: the same settings with and without fan_out.
SETTINGS = "store: store, checksum_new: true, exclude: ['*.tmp'], min_age: 1h"


@pytest.fixture
def twin_url(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A second, empty database of the same kind as the test's."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'twin.db'}"
    return str(request.getfixturevalue("postgres_url"))


Contents = list[tuple[object, ...]]


def contents(instance: Instance) -> tuple[Contents, Contents]:
    """Every file and copy the catalog holds, without ids and sweep tokens (which differ
    between two databases that agree)."""
    copies = sa.select(
        instances.c.store,
        instances.c.path,
        instances.c.state,
        instances.c.size_seen,
        instances.c.mtime_seen,
        instances.c.seen_at,
        instances.c.changed_at,
        instances.c.verified_at,
        instances.c.verified_checksum,
        files.c.name,
    ).join(files, files.c.id == instances.c.file_id)
    file_rows = sa.select(
        files.c.name, files.c.size, files.c.checksum, files.c.created_at, files.c.source
    )
    with instance.engine.connect() as connection:
        return (
            sorted(tuple(r) for r in connection.execute(file_rows)),
            sorted(tuple(r) for r in connection.execute(copies)),
        )


def scan_events(instance: Instance) -> list[str]:
    """The "scan" events of the newest run (one per shard)."""
    newest = sa.select(sa.func.max(runs.c.id)).scalar_subquery()
    query = sa.select(run_events.c.message).where(
        run_events.c.run_id == newest, run_events.c.message.like("scan %")
    )
    with instance.engine.connect() as connection:
        return list(connection.execute(query).scalars())


@pytest.fixture
def pair(
    open_instance: Callable[..., Instance], store_dir: Path, twin_url: str
) -> tuple[Instance, Instance]:
    """Two catalogs of one store: one scanned plainly, one by shards of at most 2 files."""
    store = f"stores:\n  store: {{url: '{store_dir.as_uri()}'}}\n"
    plain = open_instance(f"{store}tasks:\n  - {{name: scan, type: scan, {SETTINGS}}}\n")
    fanned = open_instance(
        f"{store}tasks:\n  - {{name: scan, type: scan, {SETTINGS},"
        " fan_out: {workers: 2, shard: 2}}\n",
        SEXTON_DATABASE_URL=twin_url,
    )
    return plain, fanned


def scan_both(pair: tuple[Instance, Instance]) -> None:
    for instance in pair:
        assert run_task(instance, "scan") == "succeeded"


def test_a_fanned_out_scan_leaves_exactly_the_catalog_a_plain_scan_leaves(
    pair: tuple[Instance, Instance], store_dir: Path, clock
):
    plain, fanned = pair
    young = clock.now().timestamp()  # inside min_age: left for a later scan
    for name in ["top.warc", "readme", "a/x", "a/b/y1", "a/b/y2", "a/b/c/deep", "a/bc/z"]:
        put(store_dir, name, name.encode())
    for name in ["gone/f1", "gone/sub/f2", "e/f", "e/g", "e/h/i", "e/h/j"]:
        put(store_dir, name, name.encode())
    put(store_dir, "a/b/skip.tmp")  # excluded
    put(store_dir, "a/b/young", b"still being written", mtime=young)

    scan_both(pair)
    assert contents(fanned) == contents(plain)
    assert {r.file.name for r in catalog_of(fanned).ls()} >= {"top.warc", "a/bc/z", "e/h/j"}
    assert all(r.file.checksum for r in catalog_of(fanned).ls())  # checksum_new, per shard

    shutil.rmtree(store_dir / "gone")  # a whole top-level directory vanished
    (store_dir / "a/b/y2").unlink()  # beside a/bc/z, which stays: a/bc is not under a/b
    (store_dir / "readme").unlink()
    put(store_dir, "a/b/y1", b"rewritten, longer", mtime=OLD + 60)
    put(store_dir, "new/dir/f", b"new")
    put(store_dir, "a/b/young", b"finished", mtime=OLD)
    clock.advance(timedelta(minutes=5))

    scan_both(pair)
    assert contents(fanned) == contents(plain)
    states = {r.file.name: r.state for r in catalog_of(fanned).ls()}
    assert [n for n, s in states.items() if s == "missing"] == [
        "a/b/y2",
        "gone/f1",
        "gone/sub/f2",
        "readme",
    ]
    assert states["a/bc/z"] == states["a/b/young"] == states["new/dir/f"] == "present"
    assert "a/b/skip.tmp" not in states


def test_a_second_fanned_out_scan_changes_nothing(
    pair: tuple[Instance, Instance], store_dir: Path, clock
):
    _plain, fanned = pair
    for i in range(12):
        put(store_dir, f"d{i % 3}/s{i % 2}/f{i}", b"%d" % i)
    put(store_dir, "root-file")
    assert run_task(fanned, "scan") == "succeeded"
    before = contents(fanned)
    clock.advance(timedelta(minutes=5))

    assert run_task(fanned, "scan") == "succeeded"

    assert contents(fanned) == before  # not even seen_at: an unchanged batch writes nothing
    events = scan_events(fanned)
    assert len(events) > 3  # one per shard: the run was split
    for counted in ("new", "changed", "missing", "reappeared"):
        assert all(f" {counted}=0" in e for e in events), events


def test_a_scan_with_prefixes_and_include_fans_out_within_them(
    open_instance: Callable[..., Instance], store_dir: Path, twin_url: str
):
    for name in ["keep/a.warc", "keep/sub/b.warc", "keep/sub/c.txt", "keepers/d.warc", "e.warc"]:
        put(store_dir, name)
    store = f"stores:\n  store: {{url: '{store_dir.as_uri()}'}}\n"
    task = "name: scan, type: scan, store: store, prefixes: [keep], include: ['*.warc']"
    plain = open_instance(f"{store}tasks:\n  - {{{task}}}\n")
    fanned = open_instance(
        f"{store}tasks:\n  - {{{task}, fan_out: {{shard: 1}}}}\n", SEXTON_DATABASE_URL=twin_url
    )
    for instance in (plain, fanned):
        assert run_task(instance, "scan") == "succeeded"
    assert contents(fanned) == contents(plain)
    assert {r.file.name for r in catalog_of(fanned).ls()} == {"keep/a.warc", "keep/sub/b.warc"}


def test_a_shard_is_a_directory_tree_or_the_files_directly_in_one():
    for shard in [ScanShard("a/b", deep=True), ScanShard("a/b", False), ScanShard("", False)]:
        assert ScanShard.of(shard.bounds) == shard
    assert ScanShard.of(ShardBounds(prefix="/")) == ScanShard("", deep=False)


def test_a_missing_store_root_fails_the_fanned_out_scan(
    open_instance: Callable[..., Instance], tmp_path: Path
):
    instance = open_instance(
        f"stores:\n  store: {{url: '{(tmp_path / 'unmounted').as_uri()}'}}\n"
        "tasks:\n  - {name: scan, type: scan, store: store, fan_out: {shard: 10}}\n"
    )
    outcome = run_task(instance, "scan")
    assert outcome.startswith("failed: store store: root"), outcome


# -- real processes on PostgreSQL -----------------------------------------------------------

PROCESS_DIRS = 40
PROCESS_FILES = 4_000


@pytest.mark.timeout(300)
def test_two_worker_processes_share_a_fanned_out_scan(
    tmp_path: Path,
    pg_only: str,  # noqa: F811
) -> None:
    store = tmp_path / "store"
    for i in range(PROCESS_FILES):
        put(store, f"d{i % PROCESS_DIRS:02d}/f{i:05d}", b"%d" % i)
    config = tmp_path / "sexton.yaml"
    config.write_text(
        f"database: '{pg_only}'\n"
        "worker: {poll: 0.05s, lease: 2s, kill_grace: 1s, concurrency: 1}\n"
        f"stores: {{store: {{url: '{store.as_uri()}'}}}}\n"
        "tasks:\n"
        "  - {name: scan, type: scan, store: store, checksum_new: true,"
        " fan_out: {workers: 2, shard: 100}}\n"
    )
    subprocess.run([*SEXTON, "db", "upgrade", "-c", str(config)], check=True)
    engine = connect(pg_only)

    def count(query: sa.Select[tuple[int]]) -> int:
        with engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def scan_finished() -> bool:
        with engine.connect() as connection:
            state = connection.execute(sa.select(runs.c.state)).scalar_one_or_none()
        return state in FINISHED

    processes = [start(config, "worker") for _ in range(2)]
    try:
        wait_for(lambda: count(sa.select(sa.func.count()).select_from(workers)) == 2, 60)
        subprocess.run([*SEXTON, "trigger", "scan", "-c", str(config)], check=True)
        wait_for(scan_finished, 240)
    finally:
        stop(processes)
    with engine.connect() as connection:
        run = connection.execute(sa.select(runs)).one()
        shard_rows = connection.execute(sa.select(run_shards)).all()
        hashed = connection.execute(
            sa.select(sa.func.count()).where(files.c.checksum.is_not(None))
        ).scalar_one()
    engine.dispose()
    assert run.state == "succeeded", run
    assert (run.items, hashed) == (PROCESS_FILES, PROCESS_FILES)
    assert sorted(s.prefix for s in shard_rows) == [f"d{i:02d}" for i in range(PROCESS_DIRS)]
    assert {s.state for s in shard_rows} == {"succeeded"}
    assert len({s.worker for s in shard_rows}) == 2  # the shards really were shared
