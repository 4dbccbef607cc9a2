"""The scan task: incremental, marks kept, hashing, scope, min_age, and every backend."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from catalog_support import OLD, assert_totals_exact, catalog_of, put, run_task

from backends import make_backend
from sexton.catalog import Catalog, ScanPlan, Scope
from sexton.checksums import Checksum
from sexton.config import ConfigError
from sexton.stores import EntryInfo, open_store
from support import START

SCAN = "  - {name: scan, type: scan, store: store}\n"


def states(catalog: Catalog) -> dict[str, str | None]:
    return {row.file.name: row.state for row in catalog.ls()}


def test_rescan_adds_new_files_flags_changes_and_marks_vanished_ones_missing(
    archive, store_dir: Path
):
    put(store_dir, "a.warc.gz")
    put(store_dir, "sub/b.warc.gz", b"bb")
    instance = archive(SCAN)
    catalog = catalog_of(instance)
    assert run_task(instance, "scan") == "succeeded"
    assert states(catalog) == {"a.warc.gz": "present", "sub/b.warc.gz": "present"}
    assert catalog.show("sub/b.warc.gz").file.size == 2

    (store_dir / "a.warc.gz").unlink()
    put(store_dir, "sub/b.warc.gz", b"bigger", mtime=OLD + 60)
    put(store_dir, "c.warc.gz")
    assert run_task(instance, "scan") == "succeeded"
    assert states(catalog) == {
        "a.warc.gz": "missing",
        "c.warc.gz": "present",
        "sub/b.warc.gz": "present",
    }
    changed = catalog.show("sub/b.warc.gz")
    assert changed.file.size == 6
    assert changed.instances[0].changed_at == START
    assert changed.instances[0].mtime_seen == OLD + 60

    put(store_dir, "a.warc.gz")  # back again
    assert run_task(instance, "scan") == "succeeded"
    assert states(catalog)["a.warc.gz"] == "present"


def test_marks_survive_rescans_and_rewrites(archive, store_dir: Path):
    put(store_dir, "a.warc.gz")
    instance = archive(SCAN)
    catalog = catalog_of(instance)
    run_task(instance, "scan")
    catalog.mark(["a.warc.gz"], "cdx_indexed", "collection")
    put(store_dir, "a.warc.gz", b"rewritten", mtime=OLD + 1)
    run_task(instance, "scan")
    run_task(instance, "scan")
    marks = catalog.show("a.warc.gz").marks
    assert [(m.name, m.value) for m in marks] == [("cdx_indexed", "collection")]


def test_checksum_new_hashes_new_and_rewritten_files_in_the_chosen_algorithm(
    archive, store_dir: Path
):
    put(store_dir, "a", b"hello")
    instance = archive(
        "  - {name: scan, type: scan, store: store, checksum_new: true, checksum: md5}\n"
    )
    catalog = catalog_of(instance)
    run_task(instance, "scan")
    shown = catalog.show("a")
    assert shown.file.checksum == f"md5:{hashlib.md5(b'hello').hexdigest()}"
    assert shown.instances[0].verified_checksum == shown.file.checksum
    put(store_dir, "a", b"hello again", mtime=OLD + 5)
    run_task(instance, "scan")
    assert catalog.show("a").file.checksum == str(
        Checksum("md5", hashlib.md5(b"hello again").hexdigest())
    )


def test_without_checksum_new_only_size_and_mtime_are_recorded_and_default_algo_is_config(
    open_instance, store_dir: Path
):
    put(store_dir, "a", b"hello")
    instance = open_instance(
        f"checksum: blake3\nstores:\n  store: {{url: '{store_dir.as_uri()}'}}\ntasks:\n"
        "  - {name: plain, type: scan, store: store}\n"
        "  - {name: hashing, type: scan, store: store, checksum_new: true}\n"
    )
    catalog = catalog_of(instance)
    run_task(instance, "plain")
    assert catalog.show("a").file.checksum is None
    put(store_dir, "b", b"hello")
    run_task(instance, "hashing")
    assert catalog.show("b").file.checksum.startswith("blake3:")


def test_min_age_leaves_files_still_being_written_for_a_later_scan(archive, store_dir: Path):
    put(store_dir, "old")
    put(store_dir, "young", mtime=START.timestamp() - 30)
    instance = archive("  - {name: scan, type: scan, store: store, min_age: 5m}\n")
    catalog = catalog_of(instance)
    run_task(instance, "scan")
    assert set(states(catalog)) == {"old"}
    instance.clock.advance(timedelta(minutes=10))
    run_task(instance, "scan")
    assert set(states(catalog)) == {"old", "young"}


def test_prefixes_and_globs_limit_what_is_scanned_and_what_can_go_missing(archive, store_dir: Path):
    for name in ("in/a.warc.gz", "in/a.cdx", "in/tmp/b.warc.gz", "out/c.warc.gz"):
        put(store_dir, name)
    instance = archive(
        "  - name: scan\n    type: scan\n    store: store\n    prefixes: [in]\n"
        "    include: ['*.warc.gz']\n    exclude: ['in/tmp/*']\n"
        "  - {name: all, type: scan, store: store}\n"
    )
    catalog = catalog_of(instance)
    run_task(instance, "scan")
    assert set(states(catalog)) == {"in/a.warc.gz"}
    run_task(instance, "all")
    (store_dir / "out/c.warc.gz").unlink()
    run_task(instance, "scan")  # out/ is not its business: c is not declared missing by it
    assert states(catalog)["out/c.warc.gz"] == "present"
    (store_dir / "in/a.warc.gz").unlink()
    run_task(instance, "scan")
    assert states(catalog)["in/a.warc.gz"] == "missing"
    assert states(catalog)["in/a.cdx"] == "present"


def test_many_batches_stream_and_unchanged_rescan_writes_nothing(archive, store_dir: Path):
    for i in range(23):
        put(store_dir, f"d{i % 3}/f{i}")
    instance = archive()
    catalog = catalog_of(instance)
    store = open_store("store", instance.config.settings.stores["store"])
    plan = ScanPlan(store="store", source="scan:store", batch_size=4)
    report, complete = catalog.reconcile(plan, lambda: store.walk())
    assert complete and report.new == 23
    report, _ = catalog.reconcile(plan, lambda: store.walk())
    assert (report.listed, report.new, report.changed, report.swept) == (23, 0, 0, False)
    (store_dir / "d1/f4").unlink()
    report, _ = catalog.reconcile(plan, lambda: store.walk())
    assert (report.missing, report.swept) == (1, True)


def test_a_first_listing_that_repeats_a_name_in_a_later_batch_keeps_one_copy(archive):
    # A store's first listing skips the lookups: a name listed again (an import listing may
    # repeat one) must still end as one copy, with the later figures.
    catalog = catalog_of(archive())
    listing = [
        EntryInfo("a", 1, 1.5),
        EntryInfo("b", 2, 1706700600.123456),
        EntryInfo("before 1970", 0, -1.5),
        EntryInfo("a", 3, 3.5),
    ]
    plan = ScanPlan(store="store", source="import:store", batch_size=2, in_order=True)
    _report, complete = catalog.reconcile(plan, lambda: listing)
    assert complete
    shown = catalog.show("a")
    assert [(c.store, c.size_seen, c.mtime_seen) for c in shown.instances] == [("store", 3, 3.5)]
    # created_at is the mtime when the file was first seen, to the microsecond
    for entry in listing[:3]:
        created = catalog.show(entry.name).file.created_at
        assert created == datetime.fromtimestamp(entry.mtime, UTC)
    report, _ = catalog.reconcile(plan, lambda: listing[1:])
    assert (report.new, report.changed, report.missing) == (0, 0, 0)


def test_a_first_walk_written_side_by_side_catalogs_every_file_once(archive):
    # A walk's batches may be written at once (PostgreSQL): names listed twice (prefixes that
    # overlap) meet in two open transactions, and still end as one file with one copy, and
    # totals that equal a recount.
    instance = archive()
    catalog = catalog_of(instance)
    names = [f"d/f{i:03d}" for i in range(60)]
    listing = [EntryInfo(name, 7, 1.5) for name in names + names[::3]]
    plan = ScanPlan(store="store", source="scan:store", batch_size=5)
    report, complete = catalog.reconcile(plan, lambda: listing)
    assert complete and report.missing == 0
    assert sorted(states(catalog)) == names
    assert all(len(catalog.show(name).instances) == 1 for name in names)
    assert_totals_exact(instance)
    report, _ = catalog.reconcile(plan, lambda: listing)
    assert (report.new, report.changed, report.missing) == (0, 0, 0)


def test_a_first_listing_merges_the_files_another_store_already_holds(archive):
    # A mirror's first listing: its batches are new files until one meets a file catalogued
    # from another store. That batch and the rest merge: one file row, a copy on each store.
    catalog = catalog_of(archive())
    catalog.reconcile(
        ScanPlan(store="store", source="scan:store"), lambda: [EntryInfo("held", 4, 1.5)]
    )
    checksum = Checksum.parse("md5:" + "a" * 32)
    mirror = ["new 1", "new 2", "held", "new 3", "new 4"]

    def hasher(entries):
        return ((e, checksum) for e in entries)

    plan = ScanPlan(store="mirror", source="scan:mirror", hasher=hasher, batch_size=2)
    report, complete = catalog.reconcile(plan, lambda: [EntryInfo(name, 4, 2.5) for name in mirror])
    assert complete and (report.new, report.missing) == (5, 0)
    held = catalog.show("held")
    assert sorted((c.store, c.mtime_seen) for c in held.instances) == [
        ("mirror", 2.5),
        ("store", 1.5),
    ]
    # The row the first store's listing made is kept, and gains the checksum it lacked.
    assert (held.file.source, held.file.checksum) == ("scan:store", str(checksum))
    assert sorted(f.file.name for f in catalog.ls(store="mirror")) == sorted(mirror)
    assert len({(f.file.id, f.file.name) for f in catalog.ls()}) == len(mirror)  # one row each


def test_two_first_listings_of_one_store_at_once_record_each_copy_once(archive):
    # Two imports of the same listing racing. On PostgreSQL a batch that meets the other's
    # uncommitted rows waits for their commit, then merges instead of failing.
    catalog = catalog_of(archive())
    listing = [EntryInfo(f"f{i:03d}", i, 1.5) for i in range(200)]
    plan = ScanPlan(store="store", source="import:store", batch_size=20)
    start = threading.Barrier(2)

    def import_listing() -> bool:
        start.wait()
        return catalog.reconcile(plan, lambda: listing)[1]

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(lambda _: import_listing(), range(2))) == [True, True]
    rows = [(f.file.name, f.store, f.state) for f in catalog.ls()]
    assert sorted(rows) == [(e.name, "store", "present") for e in listing]


def test_a_stopped_scan_keeps_its_batches_and_marks_nothing_missing(archive, store_dir: Path):
    for i in range(10):
        put(store_dir, f"f{i}")
    instance = archive()
    catalog = catalog_of(instance)
    store = open_store("store", instance.config.settings.stores["store"])
    plan = ScanPlan(store="store", source="scan:store", scope=Scope(), batch_size=3)
    calls = iter(range(100))
    report, complete = catalog.reconcile(
        plan, lambda: store.walk(), should_stop=lambda: next(calls) >= 2
    )
    assert not complete and report.new == 6 and report.missing == 0


def test_a_batch_that_fails_fails_the_scan_and_keeps_the_batches_before(archive, store_dir: Path):
    for i in range(10):
        put(store_dir, f"f{i}")
    instance = archive()
    catalog = catalog_of(instance)
    store = open_store("store", instance.config.settings.stores["store"])
    batches = iter(range(100))

    def hasher(entries):  # the second batch cannot be read at all
        if next(batches) == 1:
            raise OSError("the drive went away")
        return ((e, Checksum.parse("sha256:" + "0" * 64)) for e in entries)

    plan = ScanPlan(store="store", source="scan:store", hasher=hasher, batch_size=3)
    with pytest.raises(OSError, match="the drive went away"):
        catalog.reconcile(plan, lambda: store.walk())
    assert len(states(catalog)) == 3


def test_a_write_that_fails_fails_a_first_scan_and_keeps_the_batches_before(archive):
    # A first listing's batches are written while the next ones are prepared (on PostgreSQL
    # two at once): a write that fails there must still fail the scan, and every batch told
    # to progress as written must be kept.
    instance = archive()
    catalog = catalog_of(instance)
    told = []

    def progress(items: int, _nbytes: int) -> None:  # told once a batch is committed
        told.append(items)
        if len(told) == 1:  # then the copies' table goes away
            with instance.engine.begin() as connection:
                connection.exec_driver_sql("ALTER TABLE instances RENAME TO instances_away")

    listing = [EntryInfo(f"f{i}", 1, 1.5) for i in range(10)]
    plan = ScanPlan(store="store", source="scan:store", batch_size=3)
    with pytest.raises(Exception, match="instances"):
        catalog.reconcile(plan, lambda: listing, progress)
    with instance.engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE instances_away RENAME TO instances")
    # the second batch may have been written beside the first, before the table went away
    assert told in ([3], [3, 3])
    assert sorted(states(catalog)) == [f"f{i}" for i in range(sum(told))]


def test_names_are_stored_as_listed_whatever_characters_they_hold(archive):
    # PostgreSQL loads a first listing with COPY, whose text format gives tabs, newlines,
    # carriage returns and backslashes meanings of their own (\N is NULL).
    catalog = catalog_of(archive())
    names = ["tab\there", "new\nline", "carriage\rreturn", "back\\slash", "\\N", "plain"]
    listing = [EntryInfo(name, 1, 1.5) for name in names] + [EntryInfo("no mtime", 2, None)]
    plan = ScanPlan(store="store", source="import:store")
    assert catalog.reconcile(plan, lambda: listing)[1]
    assert sorted(states(catalog)) == sorted([*names, "no mtime"])
    assert catalog.show("no mtime").instances[0].mtime_seen is None
    report, _ = catalog.reconcile(plan, lambda: listing)
    assert (report.listed, report.new, report.changed, report.missing) == (7, 0, 0, 0)


def test_a_name_that_is_not_utf8_is_left_out_counted_and_named(archive, store_dir: Path):
    # A file named in Latin-1 on a UTF-8 system: the walk keeps its byte as a surrogate,
    # which neither database can store. The scan catalogues the rest and says which it left.
    put(store_dir, "fine.warc.gz")
    (store_dir / "caf\udce9.warc.gz").write_bytes(b"x")  # b"caf\xe9.warc.gz"
    instance = archive()
    catalog = catalog_of(instance)
    store = open_store("store", instance.config.settings.stores["store"])
    plan = ScanPlan(store="store", source="scan:store")
    for _ in range(2):  # the first scan, then a rescan
        report, complete = catalog.reconcile(plan, lambda: store.walk())
        assert complete and report.listed == 1 and report.missing == 0
        assert report.to_json()["unstorable"] == 1
        assert report.to_json()["unstorable_names"] == ["caf\\xe9.warc.gz"]
        assert states(catalog) == {"fine.warc.gz": "present"}


def test_a_scan_that_leaves_out_names_fails_naming_them_until_they_are_renamed(
    archive, store_dir: Path
):
    # A file the catalog cannot hold is a file nothing checks: the scan records the rest,
    # then fails (the task goes down, so its alert fires) until a person renames the file.
    put(store_dir, "fine.warc.gz")
    (store_dir / "caf\udce9.warc.gz").write_bytes(b"x")
    instance = archive(SCAN)
    outcome = run_task(instance, "scan")
    assert outcome.startswith("failed: 1 file names on store store are not UTF-8"), outcome
    assert "caf\\xe9.warc.gz; rename them" in outcome
    assert states(catalog_of(instance)) == {"fine.warc.gz": "present"}
    (store_dir / "caf\udce9.warc.gz").rename(store_dir / "café.warc.gz")
    assert run_task(instance, "scan") == "succeeded"
    assert states(catalog_of(instance)) == {"fine.warc.gz": "present", "café.warc.gz": "present"}


def test_after_a_first_scan_postgresql_has_statistics_for_the_copies(archive, store_dir: Path):
    # Without them a rescan's lookups read every copy of the store per batch: 20,000 copies
    # took 11 s instead of 0.2 s, on a server whose autovacuum had not analysed them yet.
    instance = archive(SCAN)
    if instance.engine.dialect.name != "postgresql":
        pytest.skip("SQLite plans these lookups well without statistics")
    put(store_dir, "a.warc.gz")
    assert run_task(instance, "scan") == "succeeded"
    with instance.engine.connect() as connection:
        analysed = connection.exec_driver_sql(
            "SELECT attname FROM pg_stats WHERE schemaname = current_schema()"
            " AND tablename = 'instances' AND attname IN ('store', 'path') ORDER BY attname"
        ).scalars()
        assert list(analysed) == ["path", "store"]


def test_an_unknown_store_is_refused_when_the_config_is_read(archive):
    with pytest.raises(ConfigError, match="store: no store named 'stroe' — did you mean 'store'?"):
        archive("  - {name: scan, type: scan, store: stroe}\n")


@pytest.mark.parametrize("kind", ["s3", "sftp"])
def test_scan_of_a_remote_store(kind, request, tmp_path, open_instance):
    backend = make_backend(kind, request, tmp_path)
    store = open_store("remote", backend.settings())
    with store.write("a/one.warc.gz") as w:
        w.write(b"one")
    with store.write("two with space.warc.gz") as w:
        w.write(b"two!")
    options = repr(backend.options).replace("None", "null")
    instance = open_instance(
        f"stores:\n  remote: {{url: '{backend.url}', options: {options}}}\ntasks:\n"
        "  - {name: scan, type: scan, store: remote, checksum_new: true}\n"
    )
    assert run_task(instance, "scan") == "succeeded"
    catalog = catalog_of(instance)
    assert {r.file.name: r.file.size for r in catalog.ls(store="remote")} == {
        "a/one.warc.gz": 3,
        "two with space.warc.gz": 4,
    }
    assert catalog.show("a/one.warc.gz").file.checksum == (
        f"sha256:{hashlib.sha256(b'one').hexdigest()}"
    )
    store.delete("a/one.warc.gz")
    assert run_task(instance, "scan") == "succeeded"
    assert catalog.show("a/one.warc.gz").instances[0].state == "missing"
