"""The catalog's maintained totals (`catalog stats`, the dashboard, `/metrics`) stay equal to
a count from scratch after every kind of write: scans that add, change and lose copies,
clones, fixity that finds damage and repairs it, deletion, and writes no task makes."""

from __future__ import annotations

import json
import subprocess
import sys

import sqlalchemy as sa
from datacare_support import flip_a_byte

from catalog.catalog_support import assert_totals_exact, recounted
from sexton.catalog.totals import FOLD_AFTER
from sexton.db.catalog_tables import files, instance_totals, instances

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
