"""The catalog's maintained totals (`catalog stats`, the dashboard, `/metrics`) and each
file's maintained verified copies and sites (the copies policy) stay equal to a count from
scratch after every kind of write: scans that add, change and lose copies, clones, fixity
that finds damage and repairs it, replication, deletion, remote confirmations, and writes no
task makes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
import sqlalchemy as sa
from datacare_support import flip_a_byte

from catalog.catalog_support import assert_copies_exact, assert_totals_exact, recounted
from sexton.catalog import CopiesPolicy
from sexton.catalog.totals import FOLD_AFTER
from sexton.db.catalog_tables import files, instance_totals, instances, remote_instances
from support import START

TASKS = (
    "  - {name: clone, type: create_local_clone, clone_from: store, clone_to: [mirror]}\n"
    "  - {name: fixity-mirror, type: check_integrity, store_name: mirror, age_in_days: null,"
    " repair: true}\n"
    "  - {name: delete, type: rolling_deletion, store_name: store, age_in_days: 0,"
    " number_of_copies: 1, max_verification_age: 7d}\n"
)


def test_totals_follow_scans_clones_repairs_and_deletions(site):
    here = site(TASKS, mirror="")
    for i in range(6):
        here.put(f"d/f{i}.warc", b"x" * (100 + i))
    here.scan()
    assert_totals_exact(here.instance)

    here.put("d/f0.warc", b"changed, and longer than before")  # a changed file
    (here.dir() / "d/f1.warc").unlink()  # a vanished one: its copy goes missing
    here.put("d/f6.warc", b"new")
    here.scan()
    assert here.copies("d/f1.warc")["store"].state == "missing"
    assert_totals_exact(here.instance)

    assert here.run("clone") == "succeeded"
    assert here.copies("d/f2.warc")["mirror"].state == "present"
    assert_totals_exact(here.instance)

    flip_a_byte(here.dir("mirror") / "d/f2.warc")
    assert here.run("fixity-mirror") == "succeeded"
    repairs = [r.event for r in here.catalog.show("d/f2.warc").repairs]
    assert repairs == ["detected", "repaired"]  # found damaged (corrupt), then present again
    assert_totals_exact(here.instance)

    assert here.run("delete") == "succeeded"
    assert here.copies("d/f3.warc")["store"].state == "deleted"
    assert_totals_exact(here.instance)


def test_totals_follow_writes_that_no_task_makes(site):
    """Deleting files (their copies go with them), a copy without a recorded size, a file
    that changes size under such a copy, and a copy moved to another store."""
    here = site()
    for i in range(4):
        here.put(f"f{i}", b"y" * (10 + i))
    here.scan()
    with here.instance.engine.begin() as connection:
        connection.execute(sa.delete(files).where(files.c.name == "f0"))
        unsized = sa.select(files.c.id).where(files.c.name == "f1").scalar_subquery()
        connection.execute(
            sa.update(instances).where(instances.c.file_id == unsized).values(size_seen=None)
        )
        connection.execute(sa.update(files).where(files.c.name == "f1").values(size=5000))
        connection.execute(
            sa.update(instances).where(instances.c.path == "f2").values(store="elsewhere")
        )
    assert recounted(here.instance.engine)["files"] == 3
    assert_totals_exact(here.instance)


def test_many_writes_leave_few_total_rows_and_the_same_totals(site):
    """Each state change adds rows on PostgreSQL; reading the totals folds them back."""
    here = site()
    here.put("f", b"z" * 10)
    here.scan()
    with here.instance.engine.begin() as connection:
        for i in range(FOLD_AFTER + 10):  # one statement each: each adds its rows
            connection.execute(
                sa.update(instances).values(state="missing" if i % 2 == 0 else "present")
            )
    assert_totals_exact(here.instance)
    with here.instance.engine.connect() as connection:
        rows = connection.execute(sa.select(sa.func.count()).select_from(instance_totals))
        assert rows.scalar_one() <= 2  # one per (store, state) ever held
    assert_totals_exact(here.instance)


def test_catalog_stats_json_counts_what_the_catalog_holds(site):
    here = site("", mirror="")
    for i in range(3):
        here.put(f"f{i}", b"w" * (1 + i), store="store")
        here.put(f"f{i}", b"w" * (1 + i), store="mirror")
    here.scan()
    here.scan("mirror")
    (here.dir("mirror") / "f0").unlink()
    here.scan("mirror")
    config = here.root / "sexton.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "sexton", "catalog", "stats", "--json", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["files"] == 3 and stats["bytes"] == 6
    assert stats["instances"] == {"present": 5, "missing": 1, "corrupt": 0, "deleted": 0}
    assert {n: (s["files"], s["bytes"]) for n, s in stats["stores"].items()} == {
        "mirror": (2, 5),
        "store": (3, 6),
    }


def assert_policy_counts_exact(here) -> dict[int, tuple[int, int]]:
    """The maintained copies equal a recount, and the policy's counts (one global rule) equal
    a judgement of every hashed file from that recount; returns the maintained copies."""
    kept = assert_copies_exact(here.instance)
    rule = here.instance.config.settings.copies
    below = [c for c, s in kept.values() if c < rule.min or s < rule.sites]
    counts = here.catalog.replication_counts(CopiesPolicy.of(here.instance.config.settings))
    assert (counts.under_replicated, counts.lost) == (len(below), below.count(0))
    return kept


def copies_of(here, kept: dict[int, tuple[int, int]], name: str) -> tuple[int, int]:
    with here.instance.engine.connect() as connection:
        file_id = connection.execute(sa.select(files.c.id).where(files.c.name == name)).scalar()
    return kept[file_id]


def test_verified_copies_follow_scans_fixity_repairs_clones_replication_and_deletion(site):
    tasks = (
        TASKS
        + "  - {name: replicate, type: replicate, targets: [drive1]}\n"
        + "  - {name: fixity-store, type: check_integrity, store_name: store, age_in_days: null}\n"
        + "copies: {min: 3}\n"
    )
    here = site(tasks, mirror="", drive1="")
    for i in range(4):
        here.put(f"d/f{i}.warc", b"x" * (100 + i))
    here.scan()
    assert copies_of(here, assert_policy_counts_exact(here), "d/f0.warc") == (1, 1)

    assert here.run("clone") == "succeeded"
    assert copies_of(here, assert_policy_counts_exact(here), "d/f0.warc") == (2, 1)

    flip_a_byte(here.dir("mirror") / "d/f1.warc")
    assert here.run("fixity-mirror") == "succeeded"  # found corrupt, then repaired
    assert copies_of(here, assert_policy_counts_exact(here), "d/f1.warc") == (2, 1)

    assert here.run("replicate") == "succeeded"
    kept = assert_policy_counts_exact(here)
    assert copies_of(here, kept, "d/f2.warc") == (3, 1)

    flip_a_byte(here.dir() / "d/f3.warc")
    assert here.run("fixity-store").startswith("failed")  # no repair: it stays corrupt
    assert here.copies("d/f3.warc")["store"].state == "corrupt"
    assert copies_of(here, assert_policy_counts_exact(here), "d/f3.warc") == (2, 1)

    assert here.run("delete") == "succeeded"
    assert here.copies("d/f0.warc")["store"].state == "deleted"
    assert copies_of(here, assert_policy_counts_exact(here), "d/f0.warc") == (2, 1)

    (here.dir("mirror") / "d/f2.warc").unlink()  # a vanished copy goes missing
    here.scan("mirror")
    assert here.copies("d/f2.warc")["mirror"].state == "missing"
    assert copies_of(here, assert_policy_counts_exact(here), "d/f2.warc") == (1, 1)


def test_verified_copies_follow_first_hashes_remote_copies_and_writes_no_task_makes(site):
    tasks = (
        "  - {name: quick-scan, type: scan, store: store}\n"
        "  - {name: fixity, type: check_integrity, store_name: store, age_in_days: null}\n"
        "copies: {min: 2, sites: 2}\n"
        "sites: {a: {url: 'http://127.0.0.1:9'}, b: {url: 'http://127.0.0.1:9'}}\n"
    )
    here = site(tasks)
    for i in range(4):
        here.put(f"f{i}", bytes([i]) * 10)
    assert here.run("quick-scan") == "succeeded"
    assert assert_policy_counts_exact(here) == {}  # nothing hashed: nothing to judge

    assert here.run("fixity") == "succeeded"  # the first hashes
    kept = assert_policy_counts_exact(here)
    assert sorted(kept.values()) == [(1, 1)] * 4

    with here.instance.engine.begin() as connection:
        ids = dict(connection.execute(sa.select(files.c.name, files.c.id)).all())
        sums = dict(connection.execute(sa.select(files.c.name, files.c.checksum)).all())
        connection.execute(
            remote_instances.insert(),
            [  # two confirmed at one site, one at another, one not confirmed yet
                {"file_id": ids["f0"], "site": "a", "store": "s", "checksum": sums["f0"],
                 "confirmed_at": START},
                {"file_id": ids["f0"], "site": "a", "store": "t", "checksum": sums["f0"],
                 "confirmed_at": START},
                {"file_id": ids["f0"], "site": "b", "store": "s", "checksum": sums["f0"],
                 "confirmed_at": START},
                {"file_id": ids["f1"], "site": "a", "store": "s", "checksum": None,
                 "confirmed_at": None},
            ],
        )  # fmt: skip
    kept = assert_policy_counts_exact(here)
    assert (kept[ids["f0"]], kept[ids["f1"]]) == ((4, 3), (1, 1))

    with here.instance.engine.begin() as connection:
        confirm = remote_instances.update().where(remote_instances.c.file_id == ids["f1"])
        connection.execute(confirm.values(checksum=sums["f1"], confirmed_at=START))
        gone = remote_instances.delete().where(remote_instances.c.store == "t")
        connection.execute(gone)
    kept = assert_policy_counts_exact(here)
    assert (kept[ids["f0"]], kept[ids["f1"]]) == ((3, 3), (2, 2))

    with here.instance.engine.begin() as connection:
        # another checksum recorded for f1: neither its copy nor the remote one matches it
        connection.execute(files.update().where(files.c.id == ids["f1"]).values(checksum="x:1"))
        connection.execute(files.update().where(files.c.id == ids["f2"]).values(checksum=None))
        connection.execute(files.delete().where(files.c.id == ids["f0"]))
        moved = instances.update().where(instances.c.file_id == ids["f3"])
        connection.execute(moved.values(file_id=ids["f1"]))  # f3's copy now said to be f1's
    kept = assert_policy_counts_exact(here)
    assert kept == {ids["f1"]: (0, 0), ids["f3"]: (0, 0)}


def test_copies_written_at_once_by_two_postgresql_writers_are_both_counted(site):
    """Each writer's recount waits for the other's uncommitted copies of the same file, then
    counts them: counting first would miss them, and leave the file one copy short."""
    here = site(mirror="")
    if here.instance.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises its writers: the race cannot happen there")
    here.put("f", b"both")
    here.scan()
    (store_copy,) = here.copies("f").values()
    with here.instance.engine.connect() as connection:
        file_id, checksum = connection.execute(sa.select(files.c.id, files.c.checksum)).one()

    def a_copy(store: str) -> dict[str, object]:
        return {"file_id": file_id, "store": store, "path": "f", "state": "present",
                "verified_checksum": checksum}  # fmt: skip

    second: dict[str, int] = {}

    def write_second() -> None:
        with here.instance.engine.begin() as connection:
            second["pid"] = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            connection.execute(instances.insert(), a_copy("second"))

    with here.instance.engine.begin() as first:
        first.execute(instances.insert(), a_copy("first"))
        writer = threading.Thread(target=write_second)
        writer.start()
        waiting = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid AND wait_event_type = 'Lock'"
        )
        with here.instance.engine.connect() as watcher:
            for _ in range(1000):
                if "pid" in second and watcher.execute(waiting, second).scalar_one():
                    break
                threading.Event().wait(0.01)
            else:
                pytest.fail("the second writer never waited for the first")
    writer.join()
    assert store_copy.state == "present"
    assert assert_copies_exact(here.instance) == {file_id: (3, 1)}
