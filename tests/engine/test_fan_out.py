"""fan_out: a check_integrity run split into shards that workers claim by lease; each copy
verified once per run, the parent's counts the shards' sums, a dead worker's shard claimed
again, and ``fan_out`` refused on a task type that cannot split."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from datacare.conftest import Site, site  # noqa: F401  (the data-care site fixture)
from engine.test_processes import (  # noqa: F401
    SEXTON,
    kill_the_newest_shards_worker,
    pg_only,
    start,
    stop,
    wait_for,
)
from sexton.db import connect
from sexton.db.catalog_tables import fixity_checks, instances
from sexton.db.tables import run_events, run_shards, runs
from sexton.engine import shards
from sexton.engine.states import FINISHED
from sexton.tasks.base import ShardBounds

FILES = 2_000
FANNED = (
    "  - {name: fixity, type: check_integrity, store_name: store, age_in_days: 7,"
    " fan_out: {workers: 2, shard: 64}}\n"
)


def verified_in_events(events: list[str]) -> int:
    """Copies verified, as the shards' "checked" events count them."""
    return sum(int(m.group(1)) for e in events if (m := re.search(r"verified=(\d+)", e)))


def checks_per_copy(connection: sa.Connection, run_id: int) -> dict[int, int]:
    """How many times the run checked each copy, as the catalog's check log counts them."""
    query = (
        sa.select(fixity_checks.c.instance_id, sa.func.count())
        .where(fixity_checks.c.run_id == run_id)
        .group_by(fixity_checks.c.instance_id)
    )
    return {instance_id: count for instance_id, count in connection.execute(query)}


def shard_states(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(run_shards.c.state)).scalars())


def test_a_fanned_out_check_verifies_every_copy_exactly_once(site, clock):  # noqa: F811
    here: Site = site(FANNED)
    for i in range(FILES):
        here.put(f"d{i % 10}/f{i:05d}", f"content {i}".encode())
    here.scan()
    clock.advance(timedelta(hours=1))  # the scan's verifications are older than the run

    assert here.run("fixity") == "succeeded"

    events = here.events("fixity")
    assert verified_in_events(events) == FILES
    with here.instance.engine.connect() as connection:
        fixity = connection.execute(sa.select(runs.c.id).where(runs.c.task == "fixity"))
        checked = checks_per_copy(connection, fixity.scalar_one())
    assert len(checked) == FILES and set(checked.values()) == {1}  # each copy checked once
    assert sum("checked" in e for e in events) == -(-FILES // 64)  # one per shard
    assert here.last_run("fixity") == (FILES, sum(len(f"content {i}") for i in range(FILES)))
    assert set(shard_states(here.instance.engine)) == {"succeeded"}
    with here.instance.engine.connect() as connection:
        stale = connection.execute(
            sa.select(sa.func.count()).where(instances.c.verified_at < clock.now())
        ).scalar_one()
    assert stale == 0


def test_a_fanned_out_check_of_one_store_skips_the_copies_of_another_within_its_shards(
    site,  # noqa: F811
    clock,
):
    here: Site = site(FANNED, other="")
    for round_ in range(4):  # each scan adds a block of ids: the two stores' ids interleave
        for i in range(50):
            here.put(f"r{round_}/f{i:02d}", b"store %d %d" % (round_, i))
            here.put(f"r{round_}/g{i:02d}", b"other %d %d" % (round_, i), store="other")
        here.scan()
        here.scan("other")
    clock.advance(timedelta(hours=1))

    assert here.run("fixity") == "succeeded"

    events = here.events("fixity")
    assert verified_in_events(events) == 200
    assert sum("checked" in e for e in events) == -(-200 // 64)
    with here.instance.engine.connect() as connection:
        checked_now = dict(
            connection.execute(
                sa.select(instances.c.store, sa.func.count())
                .where(instances.c.verified_at >= clock.now())
                .group_by(instances.c.store)
            ).all()
        )
    assert checked_now == {"store": 200}
    assert not list(here.catalog.ls(state="missing"))  # nothing looked for on the wrong store


def test_a_fanned_out_check_that_finds_damage_fails_and_stays_down(site, clock):  # noqa: F811
    here: Site = site(FANNED)
    for i in range(200):
        here.put(f"f{i:03d}", f"content {i}".encode())
    here.scan()
    (here.dir() / "f150").write_bytes(b"CONTENT 150")
    clock.advance(timedelta(hours=1))

    outcome = here.run("fixity")

    assert outcome.startswith("failed: 1 of 4 shards failed; first: 1 corrupt copies"), outcome
    assert here.status("fixity") == "down"
    assert [row.file.name for row in here.catalog.ls(state="corrupt")] == ["f150"]
    assert here.last_run("fixity")[0] == 200


def test_a_second_fanned_out_run_finds_nothing_due_and_plans_no_shard(site, clock):  # noqa: F811
    here: Site = site(FANNED)
    here.put("a", b"aaa")
    here.scan()
    clock.advance(timedelta(hours=1))
    assert here.run("fixity") == "succeeded"
    assert here.run("fixity") == "succeeded"  # "a" was verified after the run was queued
    assert here.last_run("fixity") == (0, 0)


def test_fan_out_on_a_task_type_that_cannot_split_is_a_validate_error(tmp_path: Path):
    config = tmp_path / "sexton.yaml"
    config.write_text(
        "tasks:\n"
        "  - name: hello\n"
        "    type: command\n"
        "    command: [echo, hi]\n"
        "    fan_out: {workers: 2}\n"
    )
    result = subprocess.run(
        [*SEXTON, "validate", "-c", str(config)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert f"{config}:5:" in result.stderr
    assert "tasks[0].fan_out" in result.stderr or "tasks.0.fan_out" in result.stderr
    assert "cannot be split into shards" in result.stderr
    assert "check_integrity" in result.stderr
    assert "Traceback" not in result.stderr


# -- real processes on PostgreSQL -----------------------------------------------------------

PROCESS_FILES = 20_000
PROCESS_SHARD = 500


def write_store(root: Path) -> None:
    for i in range(PROCESS_FILES):
        path = root / f"d{i % 100:02d}" / f"f{i:05d}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"%d" % i)


@pytest.mark.timeout(300)  # 20,000 files written, scanned and checked by real processes
@pytest.mark.parametrize("kill", [False, True], ids=["clean", "sigkill-one-worker"])
def test_three_worker_processes_check_a_store_once_each_even_when_one_is_killed(
    tmp_path: Path,
    pg_only: str,  # noqa: F811
    kill: bool,
) -> None:
    store = tmp_path / "store"
    write_store(store)
    config = tmp_path / "sexton.yaml"
    config.write_text(
        f"database: '{pg_only}'\n"
        "scheduler: {poll: 0.2s}\n"
        "worker: {poll: 0.05s, lease: 2s, kill_grace: 1s, concurrency: 1}\n"
        f"stores: {{store: {{url: '{store.as_uri()}'}}}}\n"
        "tasks:\n"
        "  - {name: scan, type: scan, store: store, checksum_new: true}\n"
        "  - {name: fixity, type: check_integrity, store_name: store, age_in_days: 7,"
        f" fan_out: {{workers: 3, shard: {PROCESS_SHARD}}}}}\n"
    )
    subprocess.run([*SEXTON, "db", "upgrade", "-c", str(config)], check=True)
    subprocess.run([*SEXTON, "run", "scan", "-c", str(config)], check=True, capture_output=True)
    engine = connect(pg_only)

    def fixity_run() -> sa.Row | None:
        with engine.connect() as connection:
            return connection.execute(sa.select(runs).where(runs.c.task == "fixity")).first()

    def shards_in(state: str) -> list[sa.Row]:
        with engine.connect() as connection:
            return connection.execute(
                sa.select(run_shards).where(run_shards.c.state == state)
            ).all()

    def finished() -> bool:
        run = fixity_run()
        return run is not None and run.state in FINISHED

    subprocess.run([*SEXTON, "trigger", "fixity", "-c", str(config)], check=True)
    workers = [start(config, "worker") for _ in range(3)]
    processes = [*workers, start(config, "scheduler")]  # the scheduler reaps lost leases
    try:
        if kill:
            wait_for(lambda: bool(shards_in("succeeded") and shards_in("running")), 120)
            held = kill_the_newest_shards_worker(workers, shards_in("running"))
            victim_id = held.worker
        wait_for(finished, 240)
    finally:
        stop(processes)
    run = fixity_run()
    assert run is not None and run.state == "succeeded", run
    with engine.connect() as connection:
        events = list(
            connection.execute(
                sa.select(run_events.c.message).where(
                    run_events.c.run_id == run.id, run_events.c.message.like("checked%")
                )
            ).scalars()
        )
        unverified = connection.execute(
            sa.select(sa.func.count()).where(
                sa.or_(instances.c.verified_at.is_(None), instances.c.verified_at < run.queued_at)
            )
        ).scalar_one()
        shard_workers = set(connection.execute(sa.select(run_shards.c.worker)).scalars())
        still_running = connection.execute(
            sa.select(sa.func.count()).select_from(runs).where(runs.c.state == "running")
        ).scalar_one()
        checked = checks_per_copy(connection, run.id)
    engine.dispose()
    assert unverified == 0  # every copy was checked in this run
    assert len(checked) == PROCESS_FILES  # ... as the check log counts them, copy by copy
    assert set(shard_states_of(pg_only)) == {"succeeded"}
    assert still_running == 0
    assert len(shard_workers) >= 2  # the shards really were spread over workers
    if kill:
        with engine.connect() as connection:
            redone = connection.execute(
                sa.select(run_shards.c.worker, run_shards.c.attempt).where(
                    run_shards.c.id == held.id
                )
            ).one()
        engine.dispose()
        assert redone.worker != victim_id and redone.attempt >= 2  # taken over after its lease
        # The killed worker's unrecorded shard was redone; recorded copies were not.
        assert PROCESS_FILES - PROCESS_SHARD <= verified_in_events(events) <= PROCESS_FILES
        assert run.items <= PROCESS_FILES + PROCESS_SHARD
        assert max(checked.values()) <= 2  # a copy the killed worker checked: once more at most
    else:
        assert verified_in_events(events) == PROCESS_FILES
        assert run.items == PROCESS_FILES
        assert set(checked.values()) == {1}  # every copy checked exactly once


def shard_states_of(url: str) -> list[str]:
    engine = connect(url)
    try:
        return shard_states(engine)
    finally:
        engine.dispose()


def test_workers_caps_the_shards_worked_at_once_and_a_dead_workers_shard_is_claimed_again(
    open_instance, clock
):
    instance = open_instance(
        "stores: {store: {url: 'file:///nonexistent'}}\n"
        "tasks:\n"
        "  - {name: fixity, type: check_integrity, store_name: store,"
        " fan_out: {workers: 2, shard: 10}}\n"
    )
    instance.book.queue("fixity", "manual", clock.now())
    run = instance.book.claim(["fixity"], "parent", clock.now(), timedelta(minutes=1))
    assert run is not None
    lease = timedelta(seconds=30)
    caps = {"fixity": 2}

    def claim(worker: str):
        now = clock.now()
        with instance.engine.begin() as connection:
            return shards.claim_shard(connection, caps, worker, now, now + lease)

    with instance.engine.begin() as connection:
        shards.plan(connection, run.id, [ShardBounds(i * 10, i * 10 + 10) for i in range(3)])
    first, second = claim("a"), claim("b")
    assert (first.number, second.number) == (0, 1)
    assert claim("c") is None  # two shards are being worked on: the cap is reached

    clock.advance(lease + timedelta(seconds=1))  # "a" and "b" died without renewing
    again = claim("c")
    assert again is not None and again.number == 0  # the oldest expired shard first
    with instance.engine.begin() as connection:
        assert not shards.end_shard(  # the dead worker's late report changes nothing
            connection, first.id, "a", "succeeded", clock.now(), items=10, bytes=0
        )
        assert shards.end_shard(
            connection, again.id, "c", "succeeded", clock.now(), items=10, bytes=0
        )
        left = shards.totals(connection, run.id)
    assert (left.unfinished, left.items) == (2, 10)


def test_a_soft_timeout_stops_handing_out_shards_and_leaves_nothing_running(
    site,  # noqa: F811
    clock,
    monkeypatch,
):
    here: Site = site(
        "  - {name: fixity, type: check_integrity, store_name: store, age_in_days: 7,"
        " soft_timeout: 2s, fan_out: {workers: 2, shard: 64}}\n"
    )
    for i in range(1000):
        here.put(f"f{i:04d}", f"content {i}".encode())
    here.scan()
    clock.advance(timedelta(hours=1))
    # Every look at the clock takes 10 ms, so the soft timeout comes in the middle of the run.
    monkeypatch.setattr(clock, "now", lambda: clock.advance(timedelta(milliseconds=10)))

    outcome = here.run("fixity")

    assert outcome.startswith("timed_out: stopped at its soft timeout"), outcome
    states = shard_states(here.instance.engine)
    assert "running" not in states and "queued" not in states
    assert "skipped" in states  # shards not yet handed out were not
    assert 0 < here.last_run("fixity")[0] < 1000
