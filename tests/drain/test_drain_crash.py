"""A drain SIGKILLed at random moments loses nothing, duplicates nothing, leaves no bad copy
under a final name, and completes when run again (DESIGN §5, invariants 2 and 3)."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from drain_support import drain_config, file_rows
from sqlalchemy import select

from sexton.db.tables import runs
from sexton.drain.records import DrainBook
from sexton.engine.service import Instance
from sexton.stores.paths import TEMP_PREFIX

TRIALS = int(os.environ.get("SEXTON_CRASH_TRIALS", "20"))  # per database
BATCH = 120  # files the "crawler" adds whenever the source runs low
KILL_WITHIN = 1.0  # seconds after the run starts working; a full batch takes longer
TASK = (
    "  - {name: drain, type: drain, source: crawl, prefix: warcs, destination: archive,"
    " max_size: 8K, naming: '{task}-{serial:05d}'}\n"
)


def crawl_more(crawl: Path, created: dict[str, bytes], rng: random.Random) -> None:
    for _ in range(BATCH):
        name = f"warcs/w{len(created):05d}.warc"
        data = rng.randbytes(rng.randint(50, 1500))
        (crawl / name).write_bytes(data)
        created[name] = data


# `python -m sexton run drain -c CONFIG`, with its imports done before it is told to go: the
# next trial's process starts up while the current one works, which halves the test's time.
READY_THEN_RUN = """
import sys
from sexton.cli import main
sys.stdin.readline()
main(["run", "drain", "-c", sys.argv[1]], prog_name="sexton")
"""


class Runner:
    """Keeps one `sexton run drain` process imported and waiting for the next trial."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.waiting = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", READY_THEN_RUN, str(self.config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def start(self) -> subprocess.Popen[bytes]:
        child, self.waiting = self.waiting, self._spawn()
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        child.stdin.close()
        return child

    def close(self) -> None:
        self.waiting.kill()
        self.waiting.wait()


def wait_until_working(instance: Instance, child: subprocess.Popen[bytes], before: int) -> None:
    """Until the child's run is recorded as running (its start-up is over), or it ended."""
    query = select(runs.c.id).where(runs.c.id > before, runs.c.reason == "manual")
    while child.poll() is None:
        with instance.engine.connect() as connection:
            if connection.execute(query).first() is not None:
                return
        time.sleep(0.02)


def last_run_id(instance: Instance) -> int:
    with instance.engine.connect() as connection:
        return connection.execute(select(runs.c.id).order_by(runs.c.id.desc())).scalar() or 0


def check_nothing_lost_or_wrong(
    instance: Instance, crawl: Path, archive: Path, created: dict[str, bytes]
) -> None:
    rows = {str(r["path"]): r for r in file_rows(instance)}  # names are never reused here
    for name, data in created.items():
        source = crawl / name
        if source.exists():
            assert source.read_bytes() == data
            continue
        row = rows.get(name)
        assert row is not None and row["tombstone"] == f"archive:{row['target']}", name
        assert (archive / str(row["target"])).read_bytes() == data, name
    for path in archive.rglob("*"):
        if path.is_dir() or path.name.startswith(TEMP_PREFIX):
            continue  # an interrupted write stays under its temporary name
        if path.name == "MANIFEST":
            for line in path.read_text().splitlines():
                head, _, digest = line.rpartition(" = ")
                name = "warcs/" + head.removeprefix("SHA256 (").removesuffix(")")
                assert hashlib.sha256(created[name]).hexdigest() == digest, line
            continue
        relative = path.relative_to(archive).parts[1:]
        assert path.read_bytes() == created["warcs/" + "/".join(relative)], path


@pytest.mark.timeout(300)
def test_drain_killed_at_random_moments_resumes_without_loss_or_bad_copies(
    write_config, tmp_path: Path
):
    crawl, archive = tmp_path / "crawl", tmp_path / "archive"
    (crawl / "warcs").mkdir(parents=True)
    archive.mkdir()
    config = write_config(drain_config(crawl, archive, TASK))
    path = tmp_path / "sexton.yaml"
    instance = Instance.open(config)
    DrainBook(instance.engine).set_switch("drain", "finishing", instance.clock.now())
    rng = random.Random(int(os.environ.get("SEXTON_CRASH_SEED", "7")))
    created: dict[str, bytes] = {}
    killed = 0
    runner = Runner(path)
    try:
        for _ in range(TRIALS):
            if len(list((crawl / "warcs").iterdir())) < BATCH // 2:
                crawl_more(crawl, created, rng)
            before = last_run_id(instance)
            child = runner.start()
            wait_until_working(instance, child, before)
            time.sleep(rng.uniform(0, KILL_WITHIN))
            if child.poll() is None:
                os.kill(child.pid, signal.SIGKILL)
                killed += 1
            child.wait()
            # The killed run holds its lease: expire it, as a scheduler would once it lapsed.
            instance.book.reap(datetime.now(UTC) + timedelta(days=1))
            check_nothing_lost_or_wrong(instance, crawl, archive, created)

        final = runner.start()
        assert final.stderr is not None
        assert final.wait(timeout=120) == 0, final.stderr.read().decode()
        check_nothing_lost_or_wrong(instance, crawl, archive, created)
        assert list((crawl / "warcs").iterdir()) == []
        rows = file_rows(instance)
        assert len(rows) == len(created)
        assert all(r["deleted_at"] is not None for r in rows)
        assert {s.state for s in DrainBook(instance.engine).series_of("drain")} == {"done"}
        assert killed >= TRIALS // 2  # most trials really were cut short
    finally:
        runner.close()
        instance.engine.dispose()
