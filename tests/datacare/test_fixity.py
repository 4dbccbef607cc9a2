"""check_integrity: bit rot found and made sticky, vanished copies, first checksums,
rolling order, progress."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa
from datacare_support import flip_a_byte, leave_temp

from sexton.catalog.records import iso
from sexton.db.catalog_tables import corrupt_files
from sexton.db.tables import runs

BIT_ROT_FILES = 10_000  # tiny files: the test is about finding one among many, not speed
CHECK = "  - {name: fixity, type: check_integrity, store_name: store, age_in_days: 7}\n"


def corrupt_rows(here) -> list[tuple[str, int]]:
    with here.instance.engine.connect() as connection:
        rows = connection.execute(sa.select(corrupt_files.c.store, corrupt_files.c.count)).all()
    return [tuple(r) for r in rows]


def test_bit_rot_in_one_of_many_files_flags_exactly_that_file(site):
    here = site(CHECK)
    for i in range(BIT_ROT_FILES):
        here.put(f"d{i % 20}/f{i:05d}", f"content {i}".encode())
    here.scan()
    flip_a_byte(here.dir() / "d7/f07207", 3)

    outcome = here.run("fixity")
    assert outcome.startswith("failed: 1 corrupt copies on store store: d7/f07207"), outcome
    assert [row.file.name for row in here.catalog.ls(state="corrupt")] == ["d7/f07207"]
    assert sum(1 for _ in here.catalog.ls(state="present")) == BIT_ROT_FILES - 1
    assert corrupt_rows(here) == [("store", 1)]
    assert here.status("fixity") == "down"
    assert any("corrupt" in e and "d7/f07207" in e for e in here.events("fixity"))
    assert here.last_run("fixity")[0] == BIT_ROT_FILES


def test_a_corrupt_copy_stays_flagged_and_is_counted_once(site):
    here = site(CHECK)
    for name in "abc":
        here.put(name, name.encode() * 10)
    here.scan()
    flip_a_byte(here.dir() / "b")
    assert here.run("fixity").startswith("failed: 1 corrupt copies on store store: b")
    assert here.run("fixity") == "succeeded"  # corrupt copies are not re-checked...
    assert corrupt_rows(here) == [("store", 1)]  # ...nor their record duplicated
    assert here.status("fixity") == "down"  # and the task stays down until `sexton clear`


def test_every_copy_checked_counts_items_and_bytes_on_the_run(site):
    here = site(CHECK)
    for i in range(5):
        here.put(f"f{i}", b"x" * (i + 1))
    here.scan()
    assert here.run("fixity") == "succeeded"
    assert here.last_run("fixity") == (5, 15)


def test_a_vanished_file_is_marked_missing(site):
    here = site(CHECK)
    here.put("a", b"aaa")
    here.put("b", b"bbb")
    here.scan()
    (here.dir() / "a").unlink()
    assert here.run("fixity") == "succeeded"
    assert here.copies("a")["store"].state == "missing"
    assert here.copies("b")["store"].state == "present"


def test_first_check_of_a_file_without_checksum_records_one(site):
    here = site(
        "  - {name: plain, type: scan, store: store}\n"
        "  - {name: fixity, type: check_integrity, store_name: store, algorithm: md5}\n"
    )
    here.put("a", b"hello")
    assert here.run("plain") == "succeeded"
    assert here.catalog.show("a").file.checksum is None
    assert here.run("fixity") == "succeeded"
    shown = here.catalog.show("a")
    assert shown.file.checksum == f"md5:{hashlib.md5(b'hello').hexdigest()}"
    assert shown.instances[0].verified_checksum == shown.file.checksum
    assert shown.instances[0].verified_at == here.instance.clock.now()


def test_every_check_is_logged_with_its_run_and_what_it_found_latest_first(site, clock):
    here = site("  - {name: fixity, type: check_integrity, store_name: store, age_in_days: null}\n")
    for name in "abc":
        here.put(name, name.encode() * 10)
    here.scan()
    assert here.catalog.show("a").checks == ()  # the scan's hash is the reference, not a check
    clock.advance(timedelta(days=8))
    assert here.run("fixity") == "succeeded"
    flip_a_byte(here.dir() / "b")
    (here.dir() / "c").unlink()
    clock.advance(timedelta(days=8))
    assert here.run("fixity").startswith("failed: 1 corrupt copies")
    with here.instance.engine.connect() as connection:
        first, second = connection.execute(
            sa.select(runs.c.id).where(runs.c.task == "fixity").order_by(runs.c.id)
        ).scalars()

    def found(name: str) -> list[tuple[str, int | None]]:
        return [(c.outcome, c.run_id) for c in here.catalog.show(name).checks]

    assert found("a") == [("match", second), ("match", first)]
    assert found("b") == [("mismatch", second), ("match", first)]
    assert found("c") == [("missing", second), ("match", first)]
    damage = here.catalog.show("b").to_json()["checks"][0]
    sha = hashlib.sha256(b"b" * 10).hexdigest()
    assert damage["store"] == "store" and damage["path"] == "b"
    assert damage["detail"] == f"expected sha256:{sha}"
    assert damage["checksum"].startswith("sha256:") and damage["checksum"] != f"sha256:{sha}"
    assert damage["at"] == iso(clock.now())


def test_rolling_checks_never_verified_then_least_recently_verified_first(site, clock):
    here = site(
        "  - {name: plain, type: scan, store: store}\n"
        "  - {name: fixity, type: check_integrity, store_name: store, rolling: true,"
        " cycle: 1m, files_per_run: 2}\n"
    )
    for name in "abcd":  # verified a minute apart, a first
        here.put(name, name.encode())
        here.scan()
        clock.advance(timedelta(minutes=1))
    here.put("e", b"e")
    here.run("plain")  # e: never verified

    def verified() -> dict[str, object]:
        return {n: here.copies(n)["store"].verified_at for n in "abcde"}

    before = verified()
    clock.advance(timedelta(hours=1))
    assert here.run("fixity") == "succeeded"
    after = verified()
    assert {n for n in "abcde" if after[n] != before[n]} == {"e", "a"}
    for expected in ({"b", "c"}, {"d", "a"}, {"e", "b"}):
        clock.advance(timedelta(hours=1))
        before = after
        here.run("fixity")
        after = verified()
        assert {n for n in "abcde" if after[n] != before[n]} == expected


def test_stale_temporary_files_beside_checked_copies_are_removed(site, clock):
    here = site(CHECK)
    here.put("d/a", b"aaa")
    here.scan()
    now = clock.now().timestamp()
    stale = leave_temp(here.dir() / "d", now - 2 * 86_400)
    fresh = leave_temp(here.dir() / "d", now - 60)  # maybe a live writer: kept
    assert here.run("fixity") == "succeeded"
    assert not stale.exists() and fresh.exists()
    assert f"stale temporary file removed store=store path=d/{stale.name}" in here.events("fixity")
    assert here.copies("d/a")["store"].state == "present"


@pytest.mark.parametrize("fan_out", ["", ", fan_out: {workers: 2, shard: 2}"])
def test_keep_checks_forgets_old_matches_a_later_check_repeats_never_damage(
    site, clock, fan_out: str
):
    # The log is the fixity record: trimming it keeps each copy's latest check and every
    # finding of damage, on this store only. A fanned-out run trims once, as it plans.
    here = site(
        "  - {name: fixity, type: check_integrity, store_name: store, age_in_days: null,"
        f" keep_checks: 20d{fan_out}}}\n"
        "  - {name: mirror_fixity, type: check_integrity, store_name: mirror,"
        " age_in_days: null}\n",
        mirror="",
    )
    for name in "abc":
        here.put(name, name.encode() * 10)
        here.put(name, name.encode() * 10, store="mirror")
    here.scan()
    here.scan("mirror")
    outcomes = []
    for round_ in range(3):  # three rounds of checks, 15 days apart, on both stores
        clock.advance(timedelta(days=15))
        assert here.run("mirror_fixity") == "succeeded"
        if round_ == 1:
            flip_a_byte(here.dir() / "b")
        outcomes.append(here.run("fixity"))
    assert (
        outcomes[1].startswith("failed: ") and "1 corrupt copies on store store: b" in outcomes[1]
    )
    assert outcomes[2] == "succeeded"  # b is corrupt now, and no longer checked

    def found(name: str, store: str) -> list[str]:
        return [c.outcome for c in here.catalog.show(name).checks if c.store == store]

    # at the third round (day 45) the window reached back to day 25: day 15's match of a
    # and c went, day 30's and 45's stay; b's day-15 match went, its damage (day 30) stays
    assert found("a", "store") == ["match", "match"]
    assert found("c", "store") == ["match", "match"]
    assert found("b", "store") == ["mismatch"]
    assert found("a", "mirror") == ["match", "match", "match"]  # another task's store
    window_start = (clock.now() - timedelta(days=20)).isoformat()
    assert [e for e in here.events("fixity") if e.startswith("checks forgotten")] == [
        f"checks forgotten store=store checks=3 before={window_start}"
    ]
