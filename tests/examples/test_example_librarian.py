"""examples/librarian end to end: the SneakerNet cloner from the librarian's own JSON fills one
drive, disables it and moves to the next; integrity checks; the rolling deletion from the
ingest store waits for two other verified copies."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from pathlib import Path

import pytest
from example_support import Sexton, copy_example, last_run_succeeded

FILE_SIZE = 1000
DRIVE_CAPACITY = 3500  # bytes: three files fit on a drive, the fourth does not
DRIVES = ("drive1", "drive2")


def upload(store: Path, name: str) -> None:
    """A file the librarian ingested an hour ago (older than the scan's `min_age`)."""
    path = store / name
    path.write_bytes(name.encode().ljust(FILE_SIZE, b"."))
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))


def present_copies(sexton: Sexton) -> dict[str, list[str]]:
    """For each file name, the stores with a present copy (`sexton catalog ls`)."""
    where: dict[str, list[str]] = defaultdict(list)
    for row in sexton.json("catalog", "ls", "--state", "present"):
        where[row["name"]].append(row["store"])
    return {name: sorted(stores) for name, stores in where.items()}


@pytest.mark.timeout(600)  # some twenty-five `sexton` processes, each importing the whole tool
def test_librarian_example(tmp_path: Path, database_url: str) -> None:
    directory = copy_example("librarian", tmp_path)
    data = tmp_path / "data"
    for name in ("store", "mirror", *DRIVES):
        (data / name).mkdir(parents=True)
    sexton = Sexton(
        directory,
        database_url,
        {
            "LIBRARIAN_DATA": str(data),
            "DRIVE_CAPACITY": str(DRIVE_CAPACITY),
            "KEEP_ON_STORE_DAYS": "0",  # files leave the ingest store as soon as it is safe
        },
    )
    # The librarian JSON is read as it is, its tasks named by their `task_name`.
    assert "valid, 6 tasks" in sexton.run("validate").stdout
    assert {"Local cloner", "Mirror cloner", "Store integrity"} <= set(sexton.status())

    # First hour: one upload goes to the first drive.
    upload(data / "store", "zen.2459000.uvh5")
    sexton.run("run", "Store scan")
    sexton.run("run", "Local cloner")
    assert present_copies(sexton) == {"zen.2459000.uvh5": ["drive1", "store"]}

    # Next hour: four more. Two fit on drive1; then it is full, disabled, and drive2 takes over.
    later = [f"zen.245900{n}.uvh5" for n in range(1, 5)]
    for name in later:
        upload(data / "store", name)
    sexton.run("run", "Store scan")
    sexton.run("run", "Local cloner")
    stores = sexton.json("catalog", "stats")["stores"]
    assert stores["drive1"]["enabled"] is False
    assert stores["drive2"]["enabled"] is True
    assert (stores["drive1"]["files"], stores["drive2"]["files"]) == (3, 2)
    names = ["zen.2459000.uvh5", *later]
    for name in names:  # every file verified on exactly one drive
        detail = sexton.json("catalog", "show", name)
        on_drives = [i for i in detail["instances"] if i["store"] in DRIVES]
        assert len(on_drives) == 1, detail
        assert on_drives[0]["state"] == "present"
        assert on_drives[0]["verified_checksum"] == detail["checksum"]
    assert sorted(p.name for d in DRIVES for p in (data / d).iterdir()) == sorted(names)

    # Integrity of the ingest store, then the cleaner: each file has only one other copy
    # (its drive), so nothing may go yet.
    sexton.run("run", "Store integrity")
    sexton.run("run", "Store cleaner")
    assert sorted(p.name for p in (data / "store").iterdir()) == sorted(names)

    # The mirror makes the second copy; the cleaner may now empty the ingest store.
    sexton.run("run", "Mirror cloner")
    sexton.run("run", "Mirror integrity")
    sexton.run("run", "Store cleaner")
    assert list((data / "store").iterdir()) == []
    copies = present_copies(sexton)
    assert sorted(copies) == sorted(names)
    for stores_of_file in copies.values():
        assert stores_of_file in (["drive1", "mirror"], ["drive2", "mirror"])

    status = sexton.status()
    for task in ("Store scan", "Local cloner", "Mirror cloner", "Store integrity", "Store cleaner"):
        assert last_run_succeeded(status[task]), status[task]
