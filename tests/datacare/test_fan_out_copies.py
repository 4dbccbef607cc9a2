"""fan_out for the tasks that make or mend copies (create_local_clone, replicate, repair): a
fanned-out run does each item once, as a plain run does, a second run plans no shard, a
shard that fails fails the run, ``files_per_run`` caps the shards planned, and worker
processes on PostgreSQL, one of them SIGKILLed mid-shard, clone every file exactly once."""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from datacare_support import flip_a_byte

from datacare.conftest import Site
from engine.test_processes import (  # noqa: F401
    SEXTON,
    kill_the_newest_shards_worker,
    pg_only,
    start,
    stop,
    wait_for,
)
from sexton.db import connect
from sexton.db.catalog_tables import files, instances
from sexton.db.tables import run_shards, runs
from sexton.engine.states import FINISHED
from sexton.stores.paths import is_temp_name
from sexton.tasks.copier import COPIES_AT_ONCE

PLAIN = ""
FANNED = ", fan_out: {workers: 2, shard: 3}"
REPLICATE = "  - {name: replicate, type: replicate, targets: [%s]%s}\ncopies: {min: %d}\n"
CLONE = (
    "  - {name: %s, type: create_local_clone, clone_from: store, clone_to: [%s],"
    " disable_store_on_full: true%s}\n"
)


def on_disk(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def temps_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if is_temp_name(p.name)]


def shards_of(here: Site, task: str) -> list[tuple[str, int]]:
    """(state, items) of each shard of the task's newest run, in order."""
    with here.instance.engine.connect() as connection:
        newest = sa.select(sa.func.max(runs.c.id)).where(runs.c.task == task).scalar_subquery()
        query = (
            sa.select(run_shards.c.state, run_shards.c["items"])
            .where(run_shards.c.run_id == newest)
            .order_by(run_shards.c.number)
        )
        return [(state, items) for state, items in connection.execute(query)]


def items_per_shard(here: Site, task: str) -> list[int]:
    return [items for _state, items in shards_of(here, task)]


def fanned_out(here: Site, task: str) -> list[str]:
    return [e for e in here.events(task) if e.startswith("fanned out")]


# -- create_local_clone ---------------------------------------------------------------------


def test_a_fanned_out_clone_places_every_file_once_as_a_plain_clone_does(site):
    """Two clones of the same store, plain onto a1/a2 and fanned out onto b1/b2, the first
    drive of each too small: the full drive is disabled by one shard and the next shards
    see it (the last small files would fit on it, but it is out of use), so each file lands
    where the plain run put it."""
    here = site(
        CLONE % ("plain", "a1, a2", PLAIN) + CLONE % ("fanned", "b1, b2", FANNED),
        a1="capacity: 450",
        a2="",
        b1="capacity: 450",
        b2="",
    )
    for i in range(10):
        here.put(f"warcs/f{i}", bytes([i]) * (100 if i < 5 else 10))
    here.scan()

    assert here.run("plain") == "succeeded"
    assert here.run("fanned") == "succeeded"

    def placed(drives: tuple[str, str]) -> dict[str, int]:
        """Each file's drive (0 or 1), from the catalog; every file on exactly one."""
        where = {}
        for i in range(10):
            held = [n for n, d in enumerate(drives) if d in here.copies(f"warcs/f{i}")]
            assert len(held) == 1, (i, held)
            where[f"warcs/f{i}"] = held[0]
        return where

    assert placed(("b1", "b2")) == placed(("a1", "a2"))
    assert on_disk(here.dir("b1")) == on_disk(here.dir("a1"))
    assert on_disk(here.dir("b2")) == on_disk(here.dir("a2"))
    assert len(on_disk(here.dir("b1"))) == 4  # 450 bytes: four 100-byte files
    assert here.last_run("fanned") == here.last_run("plain") == (10, 550)
    assert shards_of(here, "fanned") == [("succeeded", 3)] * 3 + [("succeeded", 1)]
    events = here.events("fanned")
    assert sum(e.startswith("cloned ") for e in events) == 4  # each shard says what it did
    assert sum("store disabled store=b1" in e for e in events) == 1
    assert not temps_under(here.dir("b1"), here.dir("b2"))

    assert here.run("fanned") == "succeeded"
    assert fanned_out(here, "fanned")[-1] == "fanned out shards=0 shard=3"
    assert here.last_run("fanned") == (0, 0)
    assert shards_of(here, "fanned") == []


def test_files_per_run_caps_the_shards_a_fanned_out_clone_plans(site):
    here = site(
        "  - {name: fanned, type: create_local_clone, clone_from: store, clone_to: [drive1],"
        " files_per_run: 5, fan_out: {workers: 2, shard: 3}}\n",
        drive1="",
    )
    for i in range(12):
        here.put(f"f{i:02d}", bytes([i]) * 10)
    here.scan()

    done = []
    for _ in range(4):
        assert here.run("fanned") == "succeeded"
        done.append((here.last_run("fanned")[0], items_per_shard(here, "fanned")))

    assert done == [(5, [3, 2]), (5, [3, 2]), (2, [2]), (0, [])]
    assert sorted(on_disk(here.dir("drive1"))) == [f"f{i:02d}" for i in range(12)]


def test_a_shard_that_finds_a_damaged_source_fails_the_fanned_out_clone(site):
    here = site(CLONE % ("fanned", "drive1", FANNED), drive1="")
    for i in range(9):
        here.put(f"f{i}", f"content {i}".encode())
    here.scan()
    flip_a_byte(here.dir() / "f4")  # in the second of three shards

    outcome = here.run("fanned")

    assert outcome == "failed: 1 of 3 shards failed; first: corrupt on store: f4", outcome
    assert here.status("fanned") == "down"  # damage needs a person, as in a plain run
    # The failed shard's items: two copies made, and f4's source checked again (as in a plain
    # run, the copier counts that check).
    assert shards_of(here, "fanned") == [("succeeded", 3), ("failed", 3), ("succeeded", 3)]
    assert sorted(on_disk(here.dir("drive1"))) == [f"f{i}" for i in range(9) if i != 4]
    assert here.copies("f4")["store"].state == "corrupt"
    assert "drive1" not in here.copies("f4")


# -- replicate ------------------------------------------------------------------------------


@pytest.mark.parametrize("fan_out", [PLAIN, FANNED], ids=["plain", "fanned"])
def test_replicate_makes_each_missing_copy_once_fanned_out_or_not(site, fan_out):
    here = site(
        REPLICATE % ("drive1, drive2", fan_out, 3),
        drive1="",
        drive2="",
    )
    for i in range(8):
        here.put(f"f{i}", bytes([i]) * (10 + i))
    here.put("held-twice", b"h" * 5)
    here.put("held-twice", b"h" * 5, store="drive2")
    here.scan()
    here.scan("drive2")

    assert here.run("replicate") == "succeeded"

    assert here.last_run("replicate") == (17, 2 * sum(range(10, 18)) + 5)
    for i in range(8):
        assert set(here.copies(f"f{i}")) == {"store", "drive1", "drive2"}
    assert set(here.copies("held-twice")) == {"store", "drive1", "drive2"}
    assert len(on_disk(here.dir("drive1"))) == 9 and len(on_disk(here.dir("drive2"))) == 9
    summaries = [e for e in here.events("replicate") if e.startswith("replicated ")]
    assert len(summaries) == (3 if fan_out else 1)  # nine files short, three a shard

    assert here.run("replicate") == "succeeded"
    assert here.last_run("replicate") == (0, 0)
    if fan_out:
        assert fanned_out(here, "replicate")[-1] == "fanned out shards=0 shard=3"


def test_a_shard_that_meets_a_damaged_source_fails_the_fanned_out_replicate(site):
    here = site(
        REPLICATE % ("drive1", FANNED, 2),
        drive1="",
    )
    for i in range(6):
        here.put(f"f{i}", f"content {i}".encode())
    here.scan()
    flip_a_byte(here.dir() / "f1")  # the file's copy says verified: the damage is unseen

    outcome = here.run("replicate")

    assert outcome == "failed: 1 of 2 shards failed; first: corrupt on store: f1", outcome
    assert shards_of(here, "replicate") == [("failed", 3), ("succeeded", 3)]  # f1 rechecked
    assert sorted(on_disk(here.dir("drive1"))) == ["f0", "f2", "f3", "f4", "f5"]


def test_files_per_run_caps_the_shards_a_fanned_out_replicate_plans(site):
    here = site(
        REPLICATE % ("drive1", ", files_per_run: 4" + FANNED, 2),
        drive1="",
    )
    for i in range(6):
        here.put(f"f{i}", bytes([i]) * 10)
    here.scan()
    done = []
    for _ in range(3):
        assert here.run("replicate") == "succeeded"
        done.append((here.last_run("replicate")[0], items_per_shard(here, "replicate")))
    assert done == [(4, [3, 1]), (2, [2]), (0, [])]


# -- repair ---------------------------------------------------------------------------------

REPAIRS = (
    "  - {name: check, type: check_integrity, store_name: store, age_in_days: null}\n"
    "  - {name: check-mirror, type: check_integrity, store_name: mirror, age_in_days: null}\n"
    "  - {name: mend, type: repair, stores: [store]%s}\n"
)


def damaged_site(site, fan_out: str) -> Site:
    """Eight files on `store` and `mirror`; five of store's copies damaged (three corrupt, two
    gone) and found by a check that does not repair."""
    here = site(REPAIRS % fan_out, mirror="")
    for i in range(8):
        for store in ("store", "mirror"):
            here.put(f"f{i}", f"content {i}".encode() * 20, store=store)
    here.scan("mirror")
    here.scan()
    for i in (0, 3, 6):
        flip_a_byte(here.dir() / f"f{i}")
    for i in (4, 7):
        (here.dir() / f"f{i}").unlink()
    assert here.run("check").startswith("failed: 3 corrupt copies")
    return here


@pytest.mark.parametrize("fan_out", [PLAIN, FANNED], ids=["plain", "fanned"])
def test_repair_mends_each_damaged_copy_once_fanned_out_or_not(site, fan_out):
    here = damaged_site(site, fan_out)

    assert here.run("mend") == "succeeded"

    assert here.last_run("mend")[0] == 5
    assert on_disk(here.dir()) == on_disk(here.dir("mirror"))
    repaired = Counter(
        f"f{i}"
        for i in range(8)
        for record in here.catalog.show(f"f{i}").repairs
        if record.event == "repaired"
    )
    assert repaired == {f"f{i}": 1 for i in (0, 3, 4, 6, 7)}
    assert {row.state for row in here.catalog.ls(store="store")} == {"present"}
    if fan_out:
        assert shards_of(here, "mend") == [("succeeded", 3), ("succeeded", 2)]

    assert here.run("mend") == "succeeded"
    assert here.last_run("mend") == (0, 0)
    if fan_out:
        assert fanned_out(here, "mend")[-1] == "fanned out shards=0 shard=3"


def test_a_shard_with_a_lost_file_fails_the_fanned_out_repair_and_the_rest_is_mended(site):
    here = damaged_site(site, FANNED)
    flip_a_byte(here.dir("mirror") / "f6", 5)  # f6 has no good copy left anywhere
    assert here.run("check-mirror").startswith("failed")

    outcome = here.run("mend")

    assert outcome.startswith("failed: 1 of 2 shards failed; first: 1 files lost"), outcome
    assert here.status("mend") == "down"
    assert shards_of(here, "mend") == [("succeeded", 3), ("failed", 2)]
    assert here.copies("f6")["store"].state == "corrupt"  # nothing overwritten
    for i in (0, 3, 4, 7):
        assert (here.dir() / f"f{i}").read_bytes() == f"content {i}".encode() * 20


def test_validate_accepts_fan_out_on_clone_replicate_and_repair(tmp_path: Path) -> None:
    for store in ("store", "drive"):
        (tmp_path / store).mkdir()
    config = tmp_path / "sexton.yaml"
    config.write_text(
        f"database: sqlite:///{tmp_path / 'x.db'}\n"
        "stores:\n"
        f"  store: {{url: '{(tmp_path / 'store').as_uri()}'}}\n"
        f"  drive: {{url: '{(tmp_path / 'drive').as_uri()}'}}\n"
        "tasks:\n"
        "  - {name: clone, type: create_local_clone, clone_from: store, clone_to: [drive],"
        " fan_out: {workers: 3, shard: 100}}\n"
        "  - {name: replicate, type: replicate, targets: [drive], fan_out: {workers: 2}}\n"
        "  - {name: mend, type: repair, stores: [store], fan_out: {shard: 64}}\n"
    )
    done = subprocess.run([*SEXTON, "validate", "-c", str(config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# -- real processes on PostgreSQL -----------------------------------------------------------

PROCESS_FILES = 1_200
PROCESS_SHARD = 100


@pytest.mark.timeout(120)
def test_worker_processes_clone_every_file_once_when_one_is_killed_mid_shard(
    tmp_path: Path,
    pg_only: str,  # noqa: F811
) -> None:
    roots = {name: tmp_path / name for name in ("store", "drive1", "drive2")}
    for i in range(PROCESS_FILES):
        path = roots["store"] / f"d{i % 12:02d}" / f"f{i:04d}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"%d" % i * 50)
    for root in roots.values():
        root.mkdir(exist_ok=True)
    stores = ", ".join(f"{name}: {{url: '{root.as_uri()}'}}" for name, root in roots.items())
    config = tmp_path / "sexton.yaml"
    config.write_text(
        f"database: '{pg_only}'\n"
        "scheduler: {poll: 0.2s}\n"
        "worker: {poll: 0.05s, lease: 2s, kill_grace: 1s, concurrency: 1}\n"
        f"stores: {{{stores}}}\n"
        "tasks:\n"
        "  - {name: scan, type: scan, store: store, checksum_new: true}\n"
        "  - {name: clone, type: create_local_clone, clone_from: store,"
        " clone_to: [drive1, drive2], age_in_days: null,"
        f" fan_out: {{workers: 3, shard: {PROCESS_SHARD}}}}}\n"
        "  - {name: check-drive1, type: check_integrity, store_name: drive1, age_in_days: null}\n"
        "  - {name: check-drive2, type: check_integrity, store_name: drive2, age_in_days: null}\n"
    )
    subprocess.run([*SEXTON, "db", "upgrade", "-c", str(config)], check=True)
    subprocess.run([*SEXTON, "run", "scan", "-c", str(config)], check=True, capture_output=True)
    engine = connect(pg_only)

    def rows(query: sa.Select) -> list[sa.Row]:
        with engine.connect() as connection:
            return connection.execute(query).all()

    def clone_run() -> sa.Row | None:
        found = rows(sa.select(runs).where(runs.c.task == "clone"))
        return found[0] if found else None

    def shards_in(state: str) -> list[sa.Row]:
        return rows(sa.select(run_shards).where(run_shards.c.state == state))

    def finished() -> bool:
        run = clone_run()
        return run is not None and run.state in FINISHED

    subprocess.run([*SEXTON, "trigger", "clone", "-c", str(config)], check=True)
    workers = [start(config, "worker") for _ in range(3)]
    processes = [*workers, start(config, "scheduler")]  # the scheduler reaps lost leases
    try:
        wait_for(lambda: bool(shards_in("succeeded") and shards_in("running")), 60)
        held = kill_the_newest_shards_worker(workers, shards_in("running"))
        wait_for(finished, 60)
    finally:
        stop(processes)

    run = clone_run()
    assert run is not None and run.state == "succeeded", run
    assert run.items <= PROCESS_FILES  # a copy recorded by the dead worker was not redone
    assert rows(sa.select(runs).where(runs.c.state == "running")) == []
    assert {shard.state for shard in rows(sa.select(run_shards))} == {"succeeded"}
    (redone,) = rows(sa.select(run_shards).where(run_shards.c.id == held.id))
    assert redone.worker != held.worker and redone.attempt >= 2  # taken over after its lease
    clones = rows(
        sa.select(files.c.name, instances.c.store, instances.c.state)
        .join_from(instances, files, instances.c.file_id == files.c.id)
        .where(instances.c.store.in_(["drive1", "drive2"]))
    )
    engine.dispose()
    per_file = Counter(name for name, _store, _state in clones)
    assert len(per_file) == PROCESS_FILES and set(per_file.values()) == {1}  # each cloned once
    assert {state for _name, _store, state in clones} == {"present"}
    on_drives = {**on_disk(roots["drive1"]), **on_disk(roots["drive2"])}
    final = {name: data for name, data in on_drives.items() if not is_temp_name(Path(name).name)}
    assert final == on_disk(roots["store"])  # each file once, complete, under its own name
    assert sorted((store, name) for name, store, _state in clones) == sorted(
        (drive, name)
        for drive in ("drive1", "drive2")
        for name in on_disk(roots[drive])
        if not is_temp_name(Path(name).name)
    )
    # Only the killed worker's writes in flight may have left a temporary file: a live
    # writer's looks the same, so it is removed only once stale, by a later run that reads or
    # writes beside it (here a check of each drive, a day and more later).
    left = temps_under(roots["drive1"], roots["drive2"])
    assert len(left) <= COPIES_AT_ONCE
    for temp in left:
        os.utime(temp, (time.time() - 2 * 86_400,) * 2)
    for drive in ("drive1", "drive2"):
        checked = subprocess.run(
            [*SEXTON, "run", f"check-{drive}", "-c", str(config)], capture_output=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    assert temps_under(roots["drive1"], roots["drive2"]) == []
