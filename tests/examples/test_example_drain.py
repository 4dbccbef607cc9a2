"""examples/drain end to end: two crawler disks drained side by side into one archive, a
MANIFEST per series, sources deleted only once verified, and a transfer that fails twice
(the archive read-only) then succeeds on the deferred retry.

Tests run as root, for whom `chmod -w` does not stop a write; the archive is made read-only
the way an operator does it for maintenance, with the store's `read_only` switch (set here
through the example's ARCHIVE_READ_ONLY variable, and lifted by restarting the service).
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from example_support import Sexton, copy_example, last_run_succeeded, wait_for

JOB = "wide-2026"
WARC_SIZE = 1000
SERIES_SIZE = 3 * WARC_SIZE  # three WARCs to a series
DISKS = {"drain-disk1": "1", "drain-disk3": "3"}


def crawl(disk: Path, first: int, count: int) -> list[str]:
    """WARCs the crawler closed an hour ago (past `min_age`), in order; returns their names."""
    warcs = disk / JOB / "warcs"
    warcs.mkdir(parents=True, exist_ok=True)
    names = []
    an_hour_ago = int(time.time()) - 3600
    for n in range(first, first + count):
        name = f"WIDE-{n:05d}.warc.gz"
        (warcs / name).write_bytes(f"{disk.parent.name}:{name}".encode().ljust(WARC_SIZE, b"."))
        os.utime(warcs / name, (an_hour_ago + n, an_hour_ago + n))  # written one after another
        names.append(name)
    return names


def left_on(disk: Path) -> list[str]:
    return sorted(p.name for p in (disk / JOB / "warcs").iterdir())


def drain_status(sexton: Sexton) -> dict[str, dict[str, Any]]:
    return {row["task"]: row for row in sexton.json("drain", "status", "--all")}


def check_archive(archive: Path, task: str, expected: list[str]) -> None:
    """Each series of ``task`` in the archive passes `md5sum -c MANIFEST`; together they hold
    exactly ``expected``."""
    found = []
    for series in sorted(archive.glob(f"{task}-*")):
        subprocess.run(["md5sum", "--check", "--quiet", "MANIFEST"], cwd=series, check=True)
        found += sorted(p.name for p in series.iterdir() if p.name != "MANIFEST")
    assert sorted(found) == sorted(expected)


@pytest.mark.timeout(600)  # a service started three times and some twenty `sexton` processes
def test_drain_example(tmp_path: Path, database_url: str) -> None:
    directory = copy_example("drain", tmp_path)
    crawl_root, archive = tmp_path / "crawl", tmp_path / "archive"
    archive.mkdir()
    sexton = Sexton(
        directory,
        database_url,
        {
            "CRAWL_ROOT": str(crawl_root),
            "ARCHIVE_ROOT": str(archive),
            "CRAWL_JOB": JOB,
            "SERIES_SIZE": str(SERIES_SIZE),
            "DRAIN_BACKOFF": "1s",  # the example's 5m and 1h, shortened for the test
            # Long enough that the service is stopped (and the state looked at) before it is
            # due, short enough to wait for.
            "DRAIN_RETRY_AFTER": "15s",
        },
    )
    disks = {task: crawl_root / number / "crawling" for task, number in DISKS.items()}
    written = {task: crawl(disk, 1, 7) for task, disk in disks.items()}
    assert "valid, 2 tasks" in sexton.run("validate").stdout

    # Both disks drain at once, each by its own task, on one service with two worker slots.
    with sexton.serve():
        sexton.wait_ready()
        for task in DISKS:
            sexton.run("trigger", task)
        for task in DISKS:
            wait_for(
                lambda task=task: any(r["state"] == "succeeded" for r in sexton.runs(task)),
                f"{task} to drain",
            )
    status = drain_status(sexton)
    for task, disk in disks.items():
        # Six WARCs in two series; the newest waits (the crawler may still append to it).
        assert [s["state"] for s in status[task]["series"]] == ["done", "done"]
        assert status[task]["done"] == {"series": 2, "files": 6, "bytes": 6 * WARC_SIZE}
        check_archive(archive, task, written[task][:6])
        assert left_on(disk) == written[task][6:]  # deleted only after verification

    # More WARCs on disk1 while the archive is read-only: the transfer fails, the quick retry
    # fails too, and the next retry is deferred.
    more = crawl(disks["drain-disk1"], 8, 3)
    sexton.environ["ARCHIVE_READ_ONLY"] = "true"
    sexton.run("run", "drain-disk1", expect=1)
    with sexton.serve():
        wait_for(
            lambda: [r for r in sexton.runs("drain-disk1") if r["attempt"] == 3],
            "the deferred retry to be queued",
        )
    tries = sexton.runs("drain-disk1")[1:]  # after the first drain
    assert [(r["reason"], r["attempt"], r["state"]) for r in tries] == [
        ("manual", 1, "failed"),
        ("retry", 2, "failed"),
        ("retry", 3, "queued"),
    ]
    assert "archive is read-only" in tries[1]["error"]
    (waiting,) = drain_status(sexton)["drain-disk1"]["series"][2:]
    assert "archive is read-only" in waiting["error"]
    # The old RETRY.<epoch> file, as data: after the quick retry, the deferred one.
    deferred = datetime.fromisoformat(waiting["retry_at"])
    assert deferred - datetime.fromisoformat(tries[1]["finished_at"]) > timedelta(seconds=10)
    assert sorted(written["drain-disk1"][6:] + more) == left_on(disks["drain-disk1"])

    # The archive is writable again: the deferred retry drains the series.
    sexton.environ["ARCHIVE_READ_ONLY"] = "false"
    with sexton.serve():
        wait_for(
            lambda: (
                [r for r in sexton.runs("drain-disk1") if r["attempt"] == 3][0]["state"]
                not in ("queued", "running")
            ),
            "the deferred retry to finish",
        )
    final = [r for r in sexton.runs("drain-disk1") if r["attempt"] == 3]
    assert final[0]["state"] == "succeeded", final
    status = drain_status(sexton)["drain-disk1"]
    assert [s["state"] for s in status["series"]] == ["done"] * 3
    assert status["retry_at"] is None
    check_archive(archive, "drain-disk1", written["drain-disk1"] + more[:2])
    assert left_on(disks["drain-disk1"]) == more[2:]
    assert last_run_succeeded(sexton.status()["drain-disk1"])
