"""Benchmark: how fast Sexton dispatches trivial runs, against procrastinate on one PostgreSQL.

Not a test; nothing here is asserted. Run ``python bench/dispatch.py [--runs N]``.

What it measures: the engine's own cost per run. The task does nothing, so claiming,
recording and finishing are all there is. Three set-ups drain the same workload:

1. Sexton on SQLite (a temporary file), one worker process;
2. Sexton on PostgreSQL (a throwaway schema), four worker processes;
3. procrastinate on the same PostgreSQL (its own throwaway schema), four worker processes.

Each set-up runs two phases with the same worker processes, started (with multiprocessing's
``spawn``) and waiting at a barrier before anything is queued, so interpreter start-up is
not counted:

- *burst*: ``--runs`` runs due now are queued in one transaction (procrastinate: one batch
  defer) while the workers are idle; runs per second are counted from the first start to the
  last finish. The due → start latency of a burst measures the backlog (the last run waits
  for all the others, and "due" is the start of the queueing transaction), so it is shown,
  but it is not the latency figure. A burst not drained after ``--timeout`` seconds is cut
  short: what is left is cancelled, and the rate is that of the runs that finished;
- *steady*: runs are queued one at a time, ``--rate`` per second for ``--seconds``, while the
  workers run (they are waited for at most 20 s after the last is queued); their due → start
  latency (``started_at - not_before``; for procrastinate its ``started`` event minus its
  ``deferred`` event) is the latency figure.

Why procrastinate: it is the PostgreSQL job queue most like Sexton's dispatch (rows claimed
with ``FOR UPDATE SKIP LOCKED``, an event row per transition), so it shows what a
PostgreSQL-backed queue in Python achieves on the same machine; Sexton aims to match it.

Only loopback connections are made. The schemas and the temporary directory are removed at
the end, also after a failure.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

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
SPAWN = mp.get_context("spawn")
STEADY_GRACE = 20.0  # seconds to wait for the steady phase's runs after the last is queued


class NoopTask(Task):
    """Does nothing: the run's cost is the engine's."""

    type = "bench_noop"

    def run(self, ctx: RunContext) -> None:
        pass


# Runs at import, so in every spawned worker process too (they import this module).
registry.register(NoopTask)


def noop_job() -> None:
    """procrastinate's no-op task."""


# -- figures -------------------------------------------------------------------------------


@dataclass
class Phase:
    """What one phase measured; times in seconds."""

    queued: int
    succeeded: int
    window: float  # first start to last finish
    latencies: list[float]  # due → start of each run that started
    cut_short: bool = False

    @property
    def per_second(self) -> float:
        return self.succeeded / self.window if self.window > 0 else 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def phase_from(rows: list[tuple[Any, ...]], cut_short: bool = False) -> Phase:
    """``rows`` are (due, started, finished, succeeded) of each run of one phase."""
    started = [row[1] for row in rows if row[1] is not None]
    finished = [row[2] for row in rows if row[2] is not None]
    window = (max(finished) - min(started)).total_seconds() if started and finished else 0.0
    return Phase(
        queued=len(rows),
        succeeded=sum(1 for row in rows if row[3]),
        window=window,
        latencies=[(row[1] - row[0]).total_seconds() for row in rows if row[1] is not None],
        cut_short=cut_short,
    )


@dataclass
class Result:
    system: str
    database: str
    processes: int
    burst: Phase
    steady: Phase


# -- the measurement, the same for every system --------------------------------------------


class System(Protocol):
    """One queue under test, with its workers already running."""

    def queue_burst(self, count: int) -> None: ...
    def queue_one(self) -> None: ...
    def pending(self) -> int: ...  # queued or running
    def cancel_queued(self) -> None: ...
    def last_id(self) -> int: ...
    def rows(self, after_id: int) -> list[tuple[Any, ...]]: ...


def drained(system: System, timeout: float) -> bool:
    """Wait until nothing is queued or running; False if that took longer than ``timeout``."""
    deadline = time.monotonic() + timeout
    while system.pending():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def run_phase(system: System, queue: Callable[[], None], timeout: float) -> Phase:
    """Queue, then wait up to ``timeout`` seconds for every run to finish."""
    before = system.last_id()
    queue()
    cut_short = not drained(system, timeout)
    if cut_short:
        system.cancel_queued()
        drained(system, 60)  # the runs already started finish
    return phase_from(system.rows(before), cut_short)


def at_steady_rate(rate: float, seconds: float, queue_one: Callable[[], None]) -> None:
    """Call ``queue_one`` ``rate`` times a second for ``seconds``, on a fixed timetable."""
    begin = time.monotonic()
    for index in range(round(rate * seconds)):
        delay = begin + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        queue_one()


def measure(system: System, options: argparse.Namespace) -> tuple[Phase, Phase]:
    burst = run_phase(system, lambda: system.queue_burst(options.runs), options.timeout)
    # A run still queued this long after the last was queued has missed the latency target
    # many times over; waiting longer would only spend the time budget.
    steady = run_phase(
        system,
        lambda: at_steady_rate(options.rate, options.seconds, system.queue_one),
        STEADY_GRACE,
    )
    return burst, steady


def start_processes(count: int, target: Callable[..., None], *args: Any) -> list[Any]:
    """Start ``count`` spawned processes running ``target(*args, go)``; return once all are
    ready (each waits at the barrier ``go`` after its imports and set-up)."""
    go = SPAWN.Barrier(count + 1)
    processes = [SPAWN.Process(target=target, args=(*args, go), daemon=True) for _ in range(count)]
    for process in processes:
        process.start()
    go.wait(timeout=120)
    return processes


def end_processes(processes: list[Any], timeout: float = 30) -> None:
    """Wait for processes told to stop; kill any that do not (after a failure)."""
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


# -- Sexton --------------------------------------------------------------------------------


def write_config(directory: Path, url: str, options: argparse.Namespace, lanes: int) -> Path:
    path = directory / f"sexton-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(
        f"database: {url}\n"
        f"worker: {{poll: {options.poll}, concurrency: {options.threads}, lease: 30s}}\n"
        f"tasks:\n"
        f"  - {{name: {TASK}, type: {NoopTask.type}, concurrency: {lanes}}}\n"
    )
    return path


def sexton_worker(config_path: str, stop: Any, go: Any) -> None:
    """A worker process: what `sexton worker` runs, until the parent sets ``stop``."""
    config = load_config(Path(config_path), registry.task_class)
    instance = Instance.open(config)
    worker = Worker(config, instance.book, instance.clock)
    go.wait()
    worker.serve(stop)
    instance.engine.dispose()


class Sexton:
    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.spec = instance.config.task(TASK)

    def queue_burst(self, count: int) -> None:
        """``count`` runs due now, as ``sexton trigger`` makes them, in one transaction."""
        now = self.instance.clock.now()
        with self.instance.engine.begin() as connection:
            for _ in range(count):
                create_run(
                    connection,
                    task=TASK,
                    reason="manual",
                    now=now,
                    executor=self.spec.executor,
                    concurrency=self.spec.settings.concurrency,
                )

    def queue_one(self) -> None:
        self.instance.book.queue(TASK, "manual", self.instance.clock.now())

    def pending(self) -> int:
        query = sa.select(sa.func.count()).where(runs.c.state.in_(("queued", "running")))
        with reading(self.instance.engine) as connection:
            return int(connection.execute(query).scalar_one())

    def cancel_queued(self) -> None:
        with self.instance.engine.begin() as connection:
            connection.execute(
                sa.update(runs).where(runs.c.state == "queued").values(state="cancelled")
            )

    def last_id(self) -> int:
        with reading(self.instance.engine) as connection:
            return int(connection.execute(sa.select(sa.func.max(runs.c.id))).scalar_one() or 0)

    def rows(self, after_id: int) -> list[tuple[Any, ...]]:
        query = sa.select(
            runs.c.not_before, runs.c.started_at, runs.c.finished_at, runs.c.state == "succeeded"
        ).where(runs.c.id > after_id)
        with reading(self.instance.engine) as connection:
            return [tuple(row) for row in connection.execute(query)]


def bench_sexton(
    database: str, url: str, processes: int, options: argparse.Namespace, directory: Path
) -> Result:
    # As many lanes as claim loops: the task's concurrency never makes a worker wait.
    config_path = write_config(directory, url, options, lanes=processes * options.threads)
    instance = Instance.open(load_config(config_path, registry.task_class))
    stop = SPAWN.Event()
    workers: list[Any] = []
    try:
        workers = start_processes(processes, sexton_worker, str(config_path), stop)
        burst, steady = measure(Sexton(instance), options)
    finally:
        stop.set()
        end_processes(workers)
        instance.engine.dispose()
    return Result("Sexton", database, processes, burst, steady)


# -- procrastinate -------------------------------------------------------------------------


def procrastinate_app(url: str) -> Any:
    import logging

    import procrastinate

    # It warns that an app made in ``__main__`` cannot be found by import path; the workers
    # here build their own app and register the task by name, so that does not matter.
    logging.getLogger("procrastinate.blueprints").setLevel(logging.ERROR)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
    app.task(name="noop")(noop_job)
    return app


def procrastinate_worker(url: str, poll: float, go: Any) -> None:
    """A worker process: what `procrastinate worker` runs, until SIGTERM from the parent."""
    import logging

    logging.basicConfig(level=logging.WARNING)  # procrastinate logs every job at INFO
    app = procrastinate_app(url)
    go.wait()
    # LISTEN/NOTIFY is procrastinate's default: it wakes idle workers when a job is
    # deferred. ``poll`` (the same as Sexton's) is its fallback.
    app.run_worker(wait=True, concurrency=1, listen_notify=True, fetch_job_polling_interval=poll)


class Procrastinate:
    TIMES = """
        SELECT min(e.at) FILTER (WHERE e.type = 'deferred'),
               min(e.at) FILTER (WHERE e.type = 'started'),
               min(e.at) FILTER (WHERE e.type IN ('succeeded', 'failed')),
               bool_or(e.type = 'succeeded')
          FROM procrastinate_jobs j JOIN procrastinate_events e ON e.job_id = j.id
         WHERE j.id > :after
         GROUP BY j.id
    """

    def __init__(self, app: Any, engine: sa.Engine) -> None:
        self.task = app.tasks["noop"]
        self.engine = engine

    def _scalar(self, sql: str) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(sa.text(sql)).scalar()

    def queue_burst(self, count: int) -> None:
        self.task.batch_defer(*({} for _ in range(count)))

    def queue_one(self) -> None:
        self.task.defer()

    def pending(self) -> int:
        sql = "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
        return int(self._scalar(sql))

    def cancel_queued(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE procrastinate_jobs SET status = 'cancelled' WHERE status = 'todo'")
            )

    def last_id(self) -> int:
        return int(self._scalar("SELECT max(id) FROM procrastinate_jobs") or 0)

    def rows(self, after_id: int) -> list[tuple[Any, ...]]:
        with self.engine.connect() as connection:
            return [
                tuple(row) for row in connection.execute(sa.text(self.TIMES), {"after": after_id})
            ]


def bench_procrastinate(url: str, processes: int, options: argparse.Namespace) -> Result:
    app = procrastinate_app(url)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    workers: list[Any] = []
    try:
        with app.open():
            app.schema_manager.apply_schema()
            workers = start_processes(processes, procrastinate_worker, url, options.poll)
            burst, steady = measure(Procrastinate(app, engine), options)
    finally:
        for process in workers:
            process.terminate()  # SIGTERM: procrastinate's graceful stop
        end_processes(workers)
        engine.dispose()
    return Result("procrastinate", "PostgreSQL", processes, burst, steady)


# -- databases -----------------------------------------------------------------------------


@contextmanager
def throwaway_schema(prefix: str) -> Iterator[str]:
    """A PostgreSQL schema of our own, dropped afterwards; yields a URL that uses it.

    Connections made with the URL carry the schema's name as their application name, so
    that queries still running when the benchmark ends (a killed worker's backend goes on
    with its query) can be ended before the schema is dropped.
    """
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}&application_name={schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = :name AND pid <> pg_backend_pid()"
                ),
                {"name": schema},
            )
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


# -- report --------------------------------------------------------------------------------


def row(result: Result) -> str:
    burst, steady = result.burst, result.steady
    runs_cell = f"{burst.queued}"
    if burst.cut_short:
        runs_cell += f" (cut short: {burst.succeeded} done)"
    elif burst.succeeded != burst.queued:
        runs_cell += f" ({burst.queued - burst.succeeded} failed)"
    steady_cell = (
        f"{steady.percentile(0.5) * 1000:.0f} ms / {steady.percentile(0.99) * 1000:.0f} ms"
    )
    if steady.cut_short:
        steady_cell += " (cut short)"
    return (
        f"| {result.system} | {result.database} | {result.processes} | {runs_cell} "
        f"| {burst.per_second:,.0f} "
        f"| {burst.percentile(0.5):.1f} s / {burst.percentile(0.99):.1f} s "
        f"| {steady_cell} |"
    )


def table(results: list[Result], options: argparse.Namespace) -> str:
    lines = [
        "| system | database | worker processes | burst runs | runs/s "
        f"| burst due→start p50 / p99 | steady {options.rate:g}/s due→start p50 / p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    return "\n".join(lines + [row(result) for result in results])


def verdicts(results: list[Result]) -> list[str]:
    found = {(r.system, r.database): r for r in results}
    sqlite = found.get(("Sexton", "SQLite"))
    postgres = found.get(("Sexton", "PostgreSQL"))
    other = found.get(("procrastinate", "PostgreSQL"))

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    lines = []
    if postgres and other:
        ratio = postgres.burst.per_second / max(other.burst.per_second, 1e-9)
        lines.append(
            f"Sexton / procrastinate runs per second on PostgreSQL: {ratio:.2f}x "
            f"(target >= 1.0x: {verdict(ratio >= 1.0)})"
        )
    if sqlite:
        rate = sqlite.burst.per_second
        lines.append(
            f"Sexton on SQLite: {rate:,.0f} runs/s (target >= 300: {verdict(rate >= 300)})"
        )
    for result in (sqlite, postgres):
        if result:
            p99 = result.steady.percentile(0.99)
            lines.append(
                f"Sexton on {result.database}: steady due→start p99 {p99:.3f} s "
                f"(target <= 1 s: {verdict(p99 <= 1.0)})"
            )
    return lines


def describe_machine() -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
    ).stdout.strip()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.node()}, {os.cpu_count()} cores, "
        f"load average {load}; Python {platform.python_version()}; commit {commit or '?'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the burst")
    parser.add_argument("--rate", type=float, default=200.0, help="steady phase: runs a second")
    parser.add_argument("--seconds", type=float, default=5.0, help="steady phase: how long")
    parser.add_argument("--poll", type=float, default=0.05, help="idle workers' poll, seconds")
    parser.add_argument("--threads", type=int, default=1, help="Sexton claim loops per process")
    parser.add_argument("--timeout", type=float, default=60.0, help="a phase's time limit (s)")
    parser.add_argument(
        "--only",
        choices=["sqlite", "postgres", "procrastinate"],
        action="append",
        help="run only these set-ups (repeatable)",
    )
    options = parser.parse_args()
    chosen = options.only or ["sqlite", "postgres", "procrastinate"]

    print(describe_machine())
    print(
        f"burst {options.runs} runs; steady {options.rate:g} runs/s for {options.seconds:g} s; "
        f"poll {options.poll} s; Sexton: {options.threads} claim loop(s) per worker process; "
        f"procrastinate: concurrency 1 per worker process, LISTEN/NOTIFY on"
    )
    print(table([], options))
    results: list[Result] = []
    directory = Path(tempfile.mkdtemp(prefix="sexton-bench-"))
    try:
        if "sqlite" in chosen:
            url = f"sqlite:///{directory / 'sexton.db'}"
            results.append(bench_sexton("SQLite", url, 1, options, directory))
            print(row(results[-1]), flush=True)
        if "postgres" in chosen:
            with throwaway_schema("bench_sexton") as url:
                results.append(bench_sexton("PostgreSQL", url, 4, options, directory))
            print(row(results[-1]), flush=True)
        if "procrastinate" in chosen:
            with throwaway_schema("bench_procrastinate") as url:
                results.append(bench_procrastinate(url, 4, options))
            print(row(results[-1]), flush=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print()
    for line in verdicts(results):
        print(line)
    print(f"finished {describe_machine()}")


if __name__ == "__main__":
    main()
