"""Data-care runs page through the catalog (keyset pagination): each run holds one page of
copies, meets every due copy once, and resumes after the last key even while the copies it
has checked or cloned change under it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sexton.catalog import pages
from sexton.checksums import Checksum

PAGE = 7  # a page far smaller than the store, so every run crosses many page boundaries
FILES = 50


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "PAGE_SIZE", PAGE)


def test_fixity_pages_meet_every_copy_once_while_checks_are_recorded(site, clock):
    here = site("  - {name: fixity, type: check_integrity, store_name: store, age_in_days: 7}\n")
    for i in range(FILES):
        here.put(f"d{i % 3}/f{i:02d}", f"content {i}".encode())
    here.scan()
    clock.advance(timedelta(minutes=1))  # what the run verifies moves to the end of the order
    catalog = here.catalog
    total = catalog.count_due("store")
    seen: list[int] = []
    for ids in catalog.due_for_check("store", limit=total):
        assert 0 < len(ids) <= PAGE
        seen += ids
        copies = catalog.copies(ids)
        catalog.record_checks([(c, Checksum.parse(c.checksum)) for c in copies], None)
    assert total == FILES
    assert sorted(seen) == sorted(set(seen)) and len(seen) == FILES


def test_a_fixity_run_over_many_pages_checks_each_copy_once_and_finds_the_damage(site, clock):
    here = site("  - {name: fixity, type: check_integrity, store_name: store, age_in_days: 7}\n")
    for i in range(FILES):
        here.put(f"f{i:02d}", f"content {i}".encode())
    here.scan()
    clock.advance(timedelta(minutes=1))
    (here.dir() / "f41").write_bytes(b"rotten 41")
    outcome = here.run("fixity")
    assert outcome.startswith("failed: 1 corrupt copies on store store: f41"), outcome
    assert here.last_run("fixity")[0] == FILES
    verified = {n: here.copies(f"f{n:02d}")["store"].verified_at for n in range(FILES)}
    assert set(verified.values()) == {clock.now()}


def test_rolling_with_a_limit_takes_the_least_recently_verified_across_pages(site, clock):
    here = site(
        "  - {name: fixity, type: check_integrity, store_name: store, rolling: true,"
        " cycle: 1m, files_per_run: 20}\n"
    )
    for i in range(FILES):
        here.put(f"f{i:02d}", f"content {i}".encode())
    here.scan()
    clock.advance(timedelta(hours=1))
    runs = []
    for _ in range(3):
        assert here.run("fixity") == "succeeded"
        runs.append(here.last_run("fixity")[0])
        clock.advance(timedelta(seconds=30))  # inside the cycle: checked copies are not due
    assert runs == [20, 20, 10]


def test_a_clone_over_many_pages_copies_every_file_once(site):
    here = site(
        "  - {name: clone, type: create_local_clone, clone_from: store, clone_to: [drive1]}\n",
        drive1="capacity: 1000000",
    )
    for i in range(FILES):
        here.put(f"warcs/f{i:02d}", f"content {i}".encode())
    here.scan()
    assert here.run("clone") == "succeeded"
    assert here.last_run("clone")[0] == FILES
    cloned = sorted(str(p.relative_to(here.dir("drive1"))) for p in here.dir("drive1").rglob("f*"))
    assert cloned == [f"warcs/f{i:02d}" for i in range(FILES)]
    assert here.run("clone") == "succeeded"
    assert here.last_run("clone")[0] == 0
