"""A drain SIGKILLed at random moments loses nothing, duplicates nothing, leaves no bad copy
under a final name, and completes when run again (DESIGN §5, invariants 2 and 3; harness:
tests/crash_harness.py)."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from drain_support import drain_config, file_rows
from sqlalchemy import select

from crash_harness import run_trials
from sexton.clock import SystemClock
from sexton.config import load_config
from sexton.db.tables import runs
from sexton.drain.records import DrainBook
from sexton.engine.service import Instance
from sexton.stores.paths import TEMP_PREFIX
from sexton.tasks import registry

TRIALS = int(os.environ.get("SEXTON_CRASH_TRIALS", "20"))  # per database
BATCH = 120  # files the "crawler" adds whenever the source runs low
KILL_WITHIN = 0.4  # seconds after the run starts working; a batch takes longer on SQLite too
TASK = (
    "  - {name: drain, type: drain, source: crawl, prefix: warcs, destination: archive,"
    " max_size: 8K, naming: '{task}-{serial:05d}'}\n"
)


class DrainCrash:
    """A crawler's disk drained into an archive, finishing, while the crawler adds files."""

    task = "drain"

    def __init__(self, root: Path, database_url: str) -> None:
        self.crawl, self.archive = root / "crawl", root / "archive"
        (self.crawl / "warcs").mkdir(parents=True)
        self.archive.mkdir()
        self.config = root / "sexton.yaml"
        self.config.write_text(
            f"database: '{database_url}'\n" + drain_config(self.crawl, self.archive, TASK)
        )
        self.instance = Instance.open(load_config(self.config, registry.task_class), SystemClock())
        DrainBook(self.instance.engine).set_switch("drain", "finishing", self.instance.clock.now())
        self.created: dict[str, bytes] = {}

    def close(self) -> None:
        self.instance.engine.dispose()

    def before_trial(self, rng: random.Random) -> None:
        if len(list((self.crawl / "warcs").iterdir())) < BATCH // 2:
            for _ in range(BATCH):
                name = f"warcs/w{len(self.created):05d}.warc"
                data = rng.randbytes(rng.randint(50, 1500))
                (self.crawl / name).write_bytes(data)
                self.created[name] = data

    def kill_moment(self, rng: random.Random) -> tuple[Callable[[], bool], float]:
        """Within ``KILL_WITHIN`` seconds of the run being recorded (start-up over)."""
        with self.instance.engine.connect() as connection:
            before = connection.execute(select(runs.c.id).order_by(runs.c.id.desc())).scalar()
        started = select(runs.c.id).where(runs.c.id > (before or 0), runs.c.reason == "manual")

        def working() -> bool:
            with self.instance.engine.connect() as connection:
                return connection.execute(started).first() is not None

        return working, rng.uniform(0, KILL_WITHIN)

    def check(self) -> None:
        rows = {str(r["path"]): r for r in file_rows(self.instance)}  # names never reused here
        for name, data in self.created.items():
            source = self.crawl / name
            if source.exists():
                assert source.read_bytes() == data
                continue
            row = rows.get(name)
            assert row is not None and row["tombstone"] == f"archive:{row['target']}", name
            assert (self.archive / str(row["target"])).read_bytes() == data, name
        for path in self.archive.rglob("*"):
            if path.is_dir() or path.name.startswith(TEMP_PREFIX):
                continue  # an interrupted write stays under its temporary name
            if path.name == "MANIFEST":
                for line in path.read_text().splitlines():
                    head, _, digest = line.rpartition(" = ")
                    name = "warcs/" + head.removeprefix("SHA256 (").removesuffix(")")
                    assert hashlib.sha256(self.created[name]).hexdigest() == digest, line
                continue
            relative = path.relative_to(self.archive).parts[1:]
            assert path.read_bytes() == self.created["warcs/" + "/".join(relative)], path

    def check_complete(self) -> None:
        assert list((self.crawl / "warcs").iterdir()) == []
        rows = file_rows(self.instance)
        assert len(rows) == len(self.created)
        assert all(r["deleted_at"] is not None for r in rows)
        assert {s.state for s in DrainBook(self.instance.engine).series_of("drain")} == {"done"}


@pytest.fixture
def drain_crash(tmp_path: Path, database_url: str) -> Iterator[DrainCrash]:
    scenario = DrainCrash(tmp_path, database_url)
    yield scenario
    scenario.close()


@pytest.mark.timeout(300)
def test_drain_killed_at_random_moments_resumes_without_loss_or_bad_copies(drain_crash):
    rng = random.Random(int(os.environ.get("SEXTON_CRASH_SEED", "7")))
    outcome = run_trials(drain_crash, TRIALS, rng)
    assert outcome.killed >= TRIALS // 2  # most trials really were cut short
