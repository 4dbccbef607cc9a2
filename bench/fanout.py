"""Benchmark: the cost of ``fan_out``, on PostgreSQL.

Not a test; nothing here is asserted. Run ``python bench/fanout.py [--files N] [--shards N]``.

1. Shards handed out per second: one running run with ``--shards`` queued shards, and four
   processes each claiming a shard and recording its end (no work in between) until none is
   left, through the same functions a worker uses (``claim_shard``, ``end_shard``).
2. Coordination overhead: ``check_integrity`` of ``--files`` tiny files as one run, then as
   one fanned-out run (shards of ``--shard``, one worker: ``sexton run``), each run's own duration
   from its record, the best of ``--rounds`` alternations; the ratio is what splitting,
   claiming and summing shards add. The catalog is analyzed after its first scan, as
   autovacuum would soon do on a server that runs it (the test server does not):
   ``--no-analyze`` keeps the statistics of empty tables instead.

PostgreSQL is ``$SEXTON_TEST_PG`` (throwaway schemas); only loopback connections are made.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from corpus import last_run_seconds, load
from corpus import sexton as run_sexton
from dispatch import throwaway_schema
from sexton.clock import SystemClock
from sexton.db import connect
from sexton.db.migrate import upgrade
from sexton.db.tables import run_shards, runs
from sexton.engine import shards
from sexton.engine.record import create_run
from sexton.engine.states import RUNNING, SUCCEEDED
from sexton.tasks.base import ShardBounds

SPAWN = multiprocessing.get_context("spawn")
CLAIMERS = 4
LEASE = timedelta(seconds=30)
TASK = "fanned"
POLL = 0.05  # a worker's default poll: how long a claim that found nothing waits


def claimer(url: str, go: Any, counted: Any) -> None:
    """Claim and end shards until none is free; count them."""
    engine = connect(url)
    clock = SystemClock()
    name = f"claimer-{multiprocessing.current_process().pid}"
    go.wait()
    done = 0
    while True:
        now = clock.now()
        with engine.begin() as connection:
            shard = shards.claim_shard(connection, {TASK: CLAIMERS}, name, now, now + LEASE)
        if shard is None:
            with engine.connect() as connection:
                left = connection.execute(
                    sa.select(sa.func.count()).where(run_shards.c.state != SUCCEEDED)
                ).scalar_one()
            if left == 0:
                break
            time.sleep(POLL)  # as a worker does when nothing was free
            continue
        with engine.begin() as connection:
            shards.end_shard(connection, shard.id, name, SUCCEEDED, clock.now(), items=1, bytes=0)
        done += 1
    with counted.get_lock():
        counted.value += done
    engine.dispose()


def shards_per_second(url: str, count: int) -> float:
    engine = connect(url)
    upgrade(engine)
    now = SystemClock().now()
    with engine.begin() as connection:
        run_id = create_run(
            connection, task=TASK, reason="manual", now=now, executor="local", concurrency=1
        )
        assert run_id is not None
        connection.execute(
            sa.update(runs)
            .where(runs.c.id == run_id)
            .values(state=RUNNING, lane=0, worker="bench", started_at=now)
        )
        shards.plan(connection, run_id, (ShardBounds(i, i + 1) for i in range(count)))
    engine.dispose()
    go = SPAWN.Barrier(CLAIMERS + 1)
    counted = SPAWN.Value("i", 0)
    processes = [SPAWN.Process(target=claimer, args=(url, go, counted)) for _ in range(CLAIMERS)]
    for process in processes:
        process.start()
    go.wait(timeout=120)
    start = time.perf_counter()
    for process in processes:
        process.join()
    seconds = time.perf_counter() - start
    assert counted.value == count, (counted.value, count)
    return count / seconds


def build_store(root: Path, files: int) -> None:
    for index in range(files):
        path = root / f"d{index // 1000:03d}" / f"f{index:06d}"
        if index % 1000 == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"%d" % index)


def overhead(
    url: str, directory: Path, files: int, shard: int, rounds: int, analyze: bool
) -> tuple[float, float]:
    """Seconds of one check_integrity run of ``files`` copies, alone and fanned out."""
    root = directory / "store"
    build_store(root, files)
    config = directory / "sexton.yaml"
    check = "type: check_integrity, store_name: store, age_in_days: null"
    config.write_text(
        f"database: '{url}'\n"
        f"stores: {{store: {{url: '{root.as_uri()}'}}}}\n"
        "tasks:\n"
        "  - {name: scan, type: scan, store: store, checksum_new: true}\n"
        f"  - {{name: single, {check}}}\n"
        f"  - {{name: fanned, {check}, fan_out: {{workers: 1, shard: {shard}}}}}\n"
    )
    run_sexton(config, "db", "upgrade")
    run_sexton(config, "run", "scan")
    if analyze:
        engine = connect(url)
        with engine.begin() as connection:
            connection.execute(sa.text("ANALYZE files, instances"))  # this schema's only
        engine.dispose()
    run_sexton(config, "run", "single")  # warm the page cache and the database
    timings: dict[str, float] = {}
    for task in ("single", "fanned") * rounds:  # interleaved: the machine is shared
        run_sexton(config, "run", task)
        timings[task] = min(timings.get(task, float("inf")), last_run_seconds(config, task))
    return timings["single"], timings["fanned"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=20_000)
    parser.add_argument("--shard", type=int, default=512, help="copies per shard")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two runs")
    parser.add_argument("--no-analyze", dest="analyze", action="store_false")
    options = parser.parse_args()
    print(f"load average {load()} ({time.strftime('%H:%M:%S')})", flush=True)
    with throwaway_schema("bench_shards") as url:
        rate = shards_per_second(url, options.shards)
    print(f"shards handed out ({CLAIMERS} processes) {rate:8.0f} /s  ({options.shards} shards)")
    with throwaway_schema("bench_fanout") as url, tempfile.TemporaryDirectory() as tmp:
        single, fanned = overhead(
            url, Path(tmp), options.files, options.shard, options.rounds, options.analyze
        )
    print(f"check_integrity, one run          {single:8.2f} s  ({options.files} files)")
    print(f"check_integrity, fan_out shard {options.shard:<4} {fanned:6.2f} s")
    print(f"fan_out / one run                 {fanned / single:8.2f}x  (target <= 1.10x)")
    print(f"load average at the end {load()} ({time.strftime('%H:%M:%S')})")


if __name__ == "__main__":
    main()
