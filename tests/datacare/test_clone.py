"""create_local_clone: one verified copy per file across the drives, full drives disabled,
bad copies never registered, finished-but-unregistered copies adopted."""

from __future__ import annotations

import json

from click.testing import CliRunner
from datacare_support import flip_a_byte, leave_temp

from sexton.cli import main
from sexton.stores.paths import is_temp_name

CLONE = (
    "  - {name: clone, type: create_local_clone, clone_from: store,"
    " clone_to: [drive1, drive2], files_per_run: 100, disable_store_on_full: %s}\n"
)


def on_disk(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_full_drive_is_disabled_and_the_next_one_takes_over(site, tmp_path):
    here = site(CLONE % "true", drive1="capacity: 450", drive2="capacity: 10000")
    for i in range(10):
        here.put(f"warcs/f{i}", bytes([i]) * 100)
    here.scan()
    assert here.run("clone") == "succeeded"

    for i in range(10):
        copies = here.copies(f"warcs/f{i}")
        drives = [s for s in ("drive1", "drive2") if s in copies]
        assert len(drives) == 1, copies  # exactly one clone, across all the drives
        clone = copies[drives[0]]
        assert clone.state == "present"
        assert clone.verified_checksum == here.catalog.show(f"warcs/f{i}").file.checksum
        assert (here.dir(drives[0]) / f"warcs/f{i}").read_bytes() == bytes([i]) * 100
    drive1 = on_disk(here.dir("drive1"))
    assert len(drive1) == 4  # 450 bytes of capacity: four 100-byte files
    assert not any(is_temp_name(name.rsplit("/", 1)[-1]) for name in drive1)
    assert len(on_disk(here.dir("drive2"))) == 6
    assert here.last_run("clone") == (10, 1000)
    assert any("store disabled store=drive1" in e for e in here.events("clone"))

    stats = CliRunner().invoke(
        main, ["catalog", "stats", "--json", "-c", str(tmp_path / "sexton.yaml")]
    )
    assert stats.exit_code == 0, stats.output
    enabled = {name: s["enabled"] for name, s in json.loads(stats.output)["stores"].items()}
    assert enabled == {"store": True, "drive1": False, "drive2": True}

    here.put("warcs/late", b"L" * 10)
    here.scan()
    assert here.run("clone") == "succeeded"  # a disabled drive stays disabled
    assert set(here.copies("warcs/late")) == {"store", "drive2"}


def test_full_drive_without_disable_stops_the_run_with_a_clear_message(site):
    here = site(CLONE % "false", drive1="capacity: 150", drive2="capacity: 10000")
    here.put("a", b"a" * 100)
    here.put("b", b"b" * 100)
    here.scan()
    outcome = here.run("clone")
    assert outcome.startswith("failed: store drive1 is full"), outcome
    assert "disable_store_on_full" in outcome
    assert len(on_disk(here.dir("drive1"))) == 1
    assert on_disk(here.dir("drive2")) == {}
    assert set(here.copies("a")) == {"store", "drive1"}  # the copy made before is registered


def test_copy_of_a_changed_source_is_not_registered_and_the_source_is_flagged(site):
    here = site(CLONE % "true", drive1="", drive2="")
    here.put("good", b"fine")
    rotten = here.put("rotten", b"original")
    here.scan()
    flip_a_byte(rotten)
    outcome = here.run("clone")
    assert outcome.startswith("failed: corrupt on store: rotten"), outcome
    assert here.status("clone") == "down"
    assert set(here.copies("rotten")) == {"store"}
    assert here.copies("rotten")["store"].state == "corrupt"
    assert on_disk(here.dir("drive1")) == {"good": b"fine"}  # no temporary file left behind
    assert on_disk(here.dir("drive2")) == {}


def test_a_finished_copy_left_unregistered_is_verified_and_adopted(site):
    here = site(CLONE % "true", drive1="", drive2="")
    here.put("a", b"data")
    here.put("b", b"more")
    here.scan()
    here.put("a", b"data", store="drive1")  # renamed into place, then killed before recording
    here.put("b", b"MORE", store="drive1")  # someone else's file under the same name
    outcome = here.run("clone")
    assert outcome == "failed: a different file is already at drive1:b", outcome
    assert here.copies("a")["drive1"].verified_checksum == here.catalog.show("a").file.checksum
    assert "drive1" not in here.copies("b")
    assert (here.dir("drive1") / "b").read_bytes() == b"MORE"  # left alone


def test_files_never_hashed_are_skipped_with_a_note(site):
    here = site(
        "  - {name: plain, type: scan, store: store}\n" + CLONE % "true", drive1="", drive2=""
    )
    here.put("a", b"data")
    here.run("plain")
    assert here.run("clone") == "succeeded"
    assert on_disk(here.dir("drive1")) == {}
    assert any("no checksum yet" in e and "files=1" in e for e in here.events("clone"))


def test_a_killed_clone_leaves_a_temporary_file_the_next_run_removes(site, clock):
    here = site(CLONE % "true", drive1="", drive2="")
    here.put("warcs/a", b"data")
    here.scan()
    (here.dir("drive1") / "warcs").mkdir()
    stale = leave_temp(here.dir("drive1") / "warcs", clock.now().timestamp() - 2 * 86_400)
    assert here.run("clone") == "succeeded"
    assert not stale.exists()
    assert on_disk(here.dir("drive1")) == {"warcs/a": b"data"}
