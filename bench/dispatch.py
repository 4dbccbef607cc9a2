"""Benchmark: how fast Sexton dispatches trivial runs, against procrastinate on one PostgreSQL.

Not a test; nothing here is asserted. Run ``python bench/dispatch.py [--runs N]``.

What it measures: the engine's own cost per run, with a task that does nothing, so claiming,
recording and finishing are all there is. Three systems drain the same workload:

1. Sexton on SQLite (a temporary file), one worker process;
2. Sexton on PostgreSQL (a throwaway schema), four worker processes;
3. procrastinate on the same PostgreSQL (its own throwaway schema), four worker processes.

Each system runs two phases with the same worker processes:

- *burst*: once the workers are up and idle, ``--runs`` runs due now are queued in one
  transaction (procrastinate: one batch defer); runs per second are counted from the first
  start to the last finish. The due → start latency of a burst mostly measures the backlog
  (the last run waits for all the others), so it is shown but is not the latency figure;
- *steady*: with the workers idle and polling, runs are queued one at a time at ``--rate``
  per second for ``--seconds``; their due → start latency (``started_at - not_before``, or
  procrastinate's ``started`` event minus its ``deferred`` event) is the latency figure.

Why procrastinate: it is the PostgreSQL job queue most like Sexton's dispatch (rows claimed
with ``FOR UPDATE SKIP LOCKED``, one event row per transition), so it shows what a
PostgreSQL-backed queue can do on this machine. Sexton's target is to be at least as fast.
Worker processes are started with multiprocessing's ``spawn`` and wait at a barrier until
all of them are ready, so interpreter start-up is not counted for either system.

Only loopback connections are made; the schemas and the temporary directory are removed at
the end, also after a failure.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sexton.config import load_config
from sexton.db import reading
from sexton.db.tables import runs
from sexton.engine.record import create_run
from sexton.engine.service import Instance
from sexton.engine.worker import Worker
from sexton.tasks import registry
from sexton.tasks.base import RunContext, Task

PG_URL = os.environ.get("SEXTON_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
TASK = "noop"
DRAIN_TIMEOUT = 600.0  # seconds; a phase that takes longer is reported as a failure
SPAWN = mp.get_context("spawn")


class NoopTask(Task):
    """Does nothing: the run's cost is the engine's."""

    type = "bench_noop"

    def run(self, ctx: RunContext) -> None:
        pass


# Runs at import, so also in every spawned worker process (which imports this module).
registry.register(NoopTask)


def noop_job() -> None:
    """procrastinate's no-op task."""


# -- figures -------------------------------------------------------------------------------


@dataclass
class Phase:
    """What one phase of one system measured; times in seconds."""

    count: int
    done: int  # runs that succeeded
    window: float  # first start to last finish
    latencies: list[float]  # due → start, one per run

    @property
    def per_second(self) -> float:
        return self.count / self.window if self.window > 0 else float("nan")

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass
class Result:
    system: str
    database: str
    processes: int
    burst: Phase
    steady: Phase


def phase_from(rows: list[tuple[datetime, datetime, datetime | None, bool]]) -> Phase:
    """``rows`` are (due, started, finished, succeeded) of each run of one phase."""
    started = [row[1] for row in rows if row[1] is not None]
    finished = [row[2] for row in rows if row[2] is not None]
    window = (max(finished) - min(started)).total_seconds() if started and finished else 0.0
    return Phase(
        count=len(rows),
        done=sum(1 for row in rows if row[3]),
        window=window,
        latencies=[(row[1] - row[0]).total_seconds() for row in rows if row[1] is not None],
    )


# -- driving a phase -----------------------------------------------------------------------


def wait_until_empty(pending: Callable[[], int], what: str) -> None:
    """Poll until nothing is left to do; raises after ``DRAIN_TIMEOUT``."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while pending():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: still {pending()} runs left after {DRAIN_TIMEOUT:.0f}s")
        time.sleep(0.1)


def at_steady_rate(rate: float, seconds: float, queue_one: Callable[[], None]) -> int:
    """Call ``queue_one`` ``rate`` times a second for ``seconds``, on an absolute timetable
    (a late call is not made up by waiting less later, but the count stays the same)."""
    total = round(rate * seconds)
    begin = time.monotonic()
    for index in range(total):
        delay = begin + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        queue_one()
    return total


def start_processes(count: int, target: Callable[..., None], *args: Any) -> list[Any]:
    """Start ``count`` spawned processes running ``target(*args, go)`` and return once all of
    them are ready (they wait at the barrier ``go`` after their imports and set-up)."""
    go = SPAWN.Barrier(count + 1)
    processes = [SPAWN.Process(target=target, args=(*args, go), daemon=True) for _ in range(count)]
    for process in processes:
        process.start()
    go.wait(timeout=120)
    return processes


def join_all(processes: list[Any], what: str) -> None:
    for process in processes:
        process.join(timeout=60)
        if process.is_alive() or process.exitcode != 0:
            process.kill()
            raise RuntimeError(f"{what} worker ended badly (exit code {process.exitcode})")


# -- Sexton --------------------------------------------------------------------------------


def write_config(directory: Path, url: str, poll: float, threads: int, lanes: int) -> Path:
    path = directory / f"sexton-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(
        f"database: {url}\n"
        f"worker: {{poll: {poll}, concurrency: {threads}, lease: 30s}}\n"
        f"tasks:\n"
        f"  - {{name: {TASK}, type: {NoopTask.type}, concurrency: {lanes}}}\n"
    )
    return path


def sexton_worker(config_path: str, stop: Any, go: Any) -> None:
    """A worker process: `sexton worker` in all but name, stopped by the parent."""
    config = load_config(Path(config_path), registry.task_class)
    instance = Instance.open(config)
    worker = Worker(config, instance.book, instance.clock)
    go.wait()
    worker.serve(stop)
    instance.engine.dispose()


def queue_burst(instance: Instance, count: int) -> None:
    """``count`` runs due now, as ``sexton trigger`` makes them, in one transaction."""
    spec = instance.config.task(TASK)
    now = instance.clock.now()
    with instance.engine.begin() as connection:
        for _ in range(count):
            create_run(
                connection,
                task=TASK,
                reason="manual",
                now=now,
                executor=spec.executor,
                concurrency=spec.settings.concurrency,
            )


def sexton_rows(instance: Instance, after_id: int) -> list[tuple[Any, ...]]:
    query = sa.select(
        runs.c.not_before, runs.c.started_at, runs.c.finished_at, runs.c.state == "succeeded"
    ).where(runs.c.id > after_id)
    with reading(instance.engine) as connection:
        return [tuple(row) for row in connection.execute(query)]


def sexton_pending(instance: Instance) -> int:
    query = sa.select(sa.func.count()).where(runs.c.state.in_(("queued", "running")))
    with reading(instance.engine) as connection:
        return int(connection.execute(query).scalar_one())


def last_run_id(instance: Instance) -> int:
    with reading(instance.engine) as connection:
        return int(connection.execute(sa.select(sa.func.max(runs.c.id))).scalar_one() or 0)


def bench_sexton(
    label: str, url: str, options: argparse.Namespace, processes: int, directory: Path
) -> Result:
    lanes = processes * options.threads  # the task never makes a claim thread wait
    config_path = write_config(directory, url, options.poll, options.threads, lanes)
    instance = Instance.open(load_config(config_path, registry.task_class))
    stop = SPAWN.Event()
    workers: list[Any] = []
    try:
        workers = start_processes(processes, sexton_worker, str(config_path), stop)
        queue_burst(instance, options.runs)
        wait_until_empty(lambda: sexton_pending(instance), f"Sexton on {label}")
        burst = phase_from(sexton_rows(instance, 0))
        before = last_run_id(instance)
        at_steady_rate(
            options.rate,
            options.seconds,
            lambda: instance.book.queue(TASK, "manual", instance.clock.now()),
        )
        wait_until_empty(lambda: sexton_pending(instance), f"Sexton on {label}")
        steady = phase_from(sexton_rows(instance, before))
        stop.set()
        join_all(workers, f"Sexton on {label}")
    finally:
        stop.set()
        for process in workers:  # after a failure: before the schema is dropped under them
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        instance.engine.dispose()
    return Result("Sexton", label, processes, burst, steady)


# -- procrastinate -------------------------------------------------------------------------


def procrastinate_app(url: str) -> Any:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
    app.task(name="noop")(noop_job)
    return app


def procrastinate_worker(url: str, poll: float, go: Any) -> None:
    """A worker process: `procrastinate worker`, stopped by SIGTERM from the parent."""
    import logging

    logging.basicConfig(level=logging.WARNING)  # procrastinate logs each job at INFO
    app = procrastinate_app(url)
    go.wait()
    # LISTEN/NOTIFY is procrastinate's default: it wakes idle workers at once, so the
    # steady-phase latency is what procrastinate is normally capable of; ``poll`` (the same
    # as Sexton's) is its fallback.
    app.run_worker(wait=True, concurrency=1, listen_notify=True, fetch_job_polling_interval=poll)


PROCRASTINATE_PENDING = "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
PROCRASTINATE_TIMES = """
    SELECT j.id,
           min(e.at) FILTER (WHERE e.type = 'deferred'),
           min(e.at) FILTER (WHERE e.type = 'started'),
           min(e.at) FILTER (WHERE e.type IN ('succeeded', 'failed')),
           bool_or(e.type = 'succeeded')
      FROM procrastinate_jobs j JOIN procrastinate_events e ON e.job_id = j.id
     WHERE j.id > :after
     GROUP BY j.id
"""


def bench_procrastinate(url: str, options: argparse.Namespace, processes: int) -> Result:
    app = procrastinate_app(url)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))

    def pending() -> int:
        with engine.connect() as connection:
            return int(connection.execute(sa.text(PROCRASTINATE_PENDING)).scalar_one())

    def rows(after: int) -> list[tuple[Any, ...]]:
        with engine.connect() as connection:
            found = connection.execute(sa.text(PROCRASTINATE_TIMES), {"after": after})
            return [tuple(row[1:]) for row in found]

    workers: list[Any] = []
    with app.open():
        app.schema_manager.apply_schema()
        try:
            workers = start_processes(processes, procrastinate_worker, url, options.poll)
            app.tasks["noop"].batch_defer(*({} for _ in range(options.runs)))
            wait_until_empty(pending, "procrastinate")
            burst = phase_from(rows(0))
            with engine.connect() as connection:
                before = connection.execute(sa.text("SELECT max(id) FROM procrastinate_jobs"))
                before_id = int(before.scalar_one())
            at_steady_rate(options.rate, options.seconds, app.tasks["noop"].defer)
            wait_until_empty(pending, "procrastinate")
            steady = phase_from(rows(before_id))
            for process in workers:
                process.terminate()  # SIGTERM: procrastinate's graceful stop
            join_all(workers, "procrastinate")
        finally:
            for process in workers:
                if process.is_alive():
                    process.kill()
            engine.dispose()
    return Result("procrastinate", "PostgreSQL", processes, burst, steady)


# -- databases -----------------------------------------------------------------------------


@contextmanager
def throwaway_schema(prefix: str) -> Iterator[str]:
    """A PostgreSQL schema of our own, dropped afterwards; yields a URL that uses it."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


# -- report --------------------------------------------------------------------------------


def table(results: list[Result], options: argparse.Namespace) -> str:
    steady = f"steady {options.rate:g}/s due→start p50 / p99"
    header = (
        f"| system | database | worker processes | runs | runs/s | burst due→start p50 / p99 "
        f"| {steady} |"
    )
    lines = [header, "|" + "---|" * 7]
    for r in results:
        failed = r.burst.count - r.burst.done + r.steady.count - r.steady.done
        note = f" ({failed} not succeeded)" if failed else ""
        lines.append(
            f"| {r.system} | {r.database} | {r.processes} | {r.burst.count}{note} "
            f"| {r.burst.per_second:,.0f} "
            f"| {r.burst.percentile(0.5):.2f} s / {r.burst.percentile(0.99):.2f} s "
            f"| {r.steady.percentile(0.5) * 1000:.0f} ms / {r.steady.percentile(0.99) * 1000:.0f} ms |"
        )
    return "\n".join(lines)


def verdicts(results: list[Result]) -> list[str]:
    by_name = {(r.system, r.database): r for r in results}
    lines = []
    sqlite = by_name.get(("Sexton", "SQLite"))
    postgres = by_name.get(("Sexton", "PostgreSQL"))
    other = by_name.get(("procrastinate", "PostgreSQL"))
    if postgres and other:
        ratio = postgres.burst.per_second / other.burst.per_second
        lines.append(
            f"Sexton / procrastinate runs per second on PostgreSQL: {ratio:.2f}x "
            f"(target >= 1.0x: {'met' if ratio >= 1.0 else 'MISSED'})"
        )
    if sqlite:
        rate = sqlite.burst.per_second
        lines.append(
            f"Sexton on SQLite: {rate:,.0f} runs/s (target >= 300: "
            f"{'met' if rate >= 300 else 'MISSED'})"
        )
    for r in (sqlite, postgres):
        if r:
            p99 = r.steady.percentile(0.99)
            lines.append(
                f"Sexton on {r.database}: steady due→start p99 {p99:.3f} s "
                f"(target <= 1 s: {'met' if p99 <= 1.0 else 'MISSED'})"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the burst phase")
    parser.add_argument("--rate", type=float, default=200.0, help="steady phase: runs/s")
    parser.add_argument("--seconds", type=float, default=5.0, help="steady phase: duration")
    parser.add_argument("--poll", type=float, default=0.05, help="idle workers' poll (s)")
    parser.add_argument(
        "--threads", type=int, default=1, help="Sexton claim loops per worker process"
    )
    parser.add_argument(
        "--only", choices=["sqlite", "postgres", "procrastinate"], action="append"
    )
    options = parser.parse_args()
    chosen = options.only or ["sqlite", "postgres", "procrastinate"]

    print(
        f"{options.runs} runs; steady {options.rate:g}/s for {options.seconds:g}s; "
        f"poll {options.poll}s; Sexton {options.threads} claim loop(s) per process; "
        f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    results: list[Result] = []
    directory = Path(tempfile.mkdtemp(prefix="sexton-bench-"))
    try:
        if "sqlite" in chosen:
            url = f"sqlite:///{directory / 'sexton.db'}"
            results.append(bench_sexton("SQLite", url, options, 1, directory))
            print(table(results[-1:], options).splitlines()[-1], flush=True)
        if "postgres" in chosen:
            with throwaway_schema("bench_sexton") as url:
                results.append(bench_sexton("PostgreSQL", url, options, 4, directory))
            print(table(results[-1:], options).splitlines()[-1], flush=True)
        if "procrastinate" in chosen:
            with throwaway_schema("bench_procrastinate") as url:
                results.append(bench_procrastinate(url, options, 4))
            print(table(results[-1:], options).splitlines()[-1], flush=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print()
    print(table(results, options))
    print()
    for line in verdicts(results):
        print(line)


if __name__ == "__main__":
    main()
