"""Real processes on one database: schedulers and workers on several "hosts", crashes,
clean shutdown. These run the installed `sexton` command exactly as an operator would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
import sqlalchemy as sa

from sexton.db import connect
from sexton.db.tables import runs

SEXTON = [sys.executable, "-m", "sexton"]
FAST = (
    "api: {listen: '127.0.0.1:0'}\n"  # `serve` also serves the API: any free port will do
    "scheduler: {poll: 0.2s}\n"
    "worker: {poll: 0.05s, lease: 2s, kill_grace: 1s, concurrency: 2}\n"
)


def start(config: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*SEXTON, *args, "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def stop(processes: list[subprocess.Popen[bytes]], timeout: float = 30) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout)


def all_runs(url: str) -> list[sa.Row]:
    engine = connect(url)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(runs).order_by(runs.c.id)).all()
    engine.dispose()
    return rows


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def kill_the_newest_shards_worker(
    workers: list[subprocess.Popen[bytes]], running: list[sa.Row]
) -> sa.Row:
    """SIGKILL the worker holding the shard begun last, which has the most left to do when its
    worker dies; returns that shard (its ``worker`` names the victim)."""
    held = max(running, key=lambda shard: shard.started_at)
    (victim,) = [w for w in workers if f":{w.pid}:" in held.worker]
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    return held


@pytest.fixture
def pg_only(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("several hosts share one PostgreSQL; SQLite is the one-host default")
    return database_url


def test_two_schedulers_and_four_workers_run_every_slot_once_without_overlap(
    tmp_path: Path, pg_only: str
) -> None:
    config = tmp_path / "sexton.yaml"
    config.write_text(
        f"database: '{pg_only}'\n{FAST}tasks:\n"
        + "".join(
            f"  - {{name: t{i}, type: command, command: [sleep, '0.3'], cron: '* * * * * *'}}\n"
            for i in range(4)
        )
    )
    subprocess.run([*SEXTON, "db", "upgrade", "-c", str(config)], check=True)
    processes = [start(config, "scheduler") for _ in range(2)]
    processes += [start(config, "worker") for _ in range(4)]

    def enough_slots_done() -> bool:
        done = [r.task for r in all_runs(pg_only) if r.state == "succeeded"]
        return all(done.count(f"t{i}") >= 6 for i in range(4))

    try:
        wait_for(enough_slots_done, timeout=90)
    finally:
        stop(processes)
    rows = all_runs(pg_only)
    by_task: dict[str, list[sa.Row]] = defaultdict(list)
    for row in rows:
        by_task[row.task].append(row)
    assert set(by_task) == {"t0", "t1", "t2", "t3"}
    for task, task_runs in by_task.items():
        slots = [r.slot for r in task_runs]
        assert len(slots) == len(set(slots)), f"{task}: a slot has two runs"
        assert len(slots) >= 6
        ran = sorted((r.started_at, r.finished_at) for r in task_runs if r.started_at)
        for (_, end), (begin, _) in zip(ran, ran[1:], strict=False):
            assert end <= begin, f"{task}: two runs overlapped"
    assert not [r for r in rows if r.state == "running" or (r.state == "queued" and r.worker)]


def test_a_killed_worker_run_is_abandoned_retried_and_the_task_freed(
    tmp_path: Path, pg_only: str
) -> None:
    config = tmp_path / "sexton.yaml"
    config.write_text(
        f"database: '{pg_only}'\n{FAST}tasks:\n"
        "  - {name: long, type: command, command: [sleep, '2']}\n"
    )
    subprocess.run([*SEXTON, "trigger", "long", "-c", str(config)], check=True)
    victim = start(config, "worker")
    wait_for(lambda: any(r.state == "running" for r in all_runs(pg_only)))
    holder = all_runs(pg_only)[0].worker
    assert holder.split(":")[1] == str(victim.pid)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    others = [start(config, "scheduler"), start(config, "worker")]
    try:
        wait_for(lambda: all_runs(pg_only)[0].state == "succeeded")
    finally:
        stop(others)
    (run,) = all_runs(pg_only)
    assert run.attempt == 2
    engine = connect(pg_only)
    with engine.connect() as connection:
        moves = (
            connection.execute(
                sa.text("SELECT to_state FROM run_events WHERE run_id = :id ORDER BY id"),
                {"id": run.id},
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert moves == ["queued", "running", "abandoned", "queued", "running", "succeeded"]
    result = subprocess.run([*SEXTON, "run", "long", "-c", str(config)], capture_output=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_serve_stops_cleanly_on_sigterm_leaving_nothing_running(
    tmp_path: Path, database_url: str
) -> None:
    config = tmp_path / "sexton.yaml"
    config.write_text(
        f"database: '{database_url}'\n{FAST}tasks:\n"
        "  - {name: long, type: command, command: [sleep, '60']}\n"
        "  - {name: quick, type: command, command: ['true'], every: 1s}\n"
    )
    subprocess.run([*SEXTON, "trigger", "long", "-c", str(config)], check=True)
    service = start(config, "serve")
    wait_for(lambda: any(r.task == "long" and r.state == "running" for r in all_runs(database_url)))
    began = time.monotonic()
    service.send_signal(signal.SIGTERM)
    output = service.communicate(timeout=30)[0].decode()
    assert service.returncode == 0, output
    assert time.monotonic() - began < 10
    assert "stopped cleanly" in output
    rows = all_runs(database_url)
    assert not [r for r in rows if r.state == "running" or (r.state == "queued" and r.worker)]
    long_run = next(r for r in rows if r.task == "long")
    assert long_run.state == "queued"  # handed back for the next worker, not lost
