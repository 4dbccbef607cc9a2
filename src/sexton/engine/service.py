"""Running the parts: scheduler and workers in one process (`sexton serve`) or apart."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from types import FrameType

from sqlalchemy import Engine

from ..clock import Clock, SystemClock
from ..config import Config
from ..db import connect, ensure_schema
from .record import ensure_task_rows
from .runbook import RunBook
from .scheduler import Scheduler
from .worker import Worker

log = logging.getLogger(__name__)


@dataclass
class Instance:
    """One configured Sexton: its config, database and run book, opened once."""

    config: Config
    engine: Engine
    book: RunBook
    clock: Clock

    @classmethod
    def open(cls, config: Config, clock: Clock | None = None) -> Instance:
        clock = clock or SystemClock()
        engine = connect(config.database_url)
        ensure_schema(engine)
        ensure_task_rows(engine, config.tasks, clock.now())
        return cls(config, engine, RunBook(config, engine), clock)


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT end the service cleanly: running tasks are asked to stop first."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.warning("received %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def serve(
    instance: Instance,
    stop: threading.Event,
    *,
    scheduler: bool = True,
    worker: bool = True,
    tags: Collection[str] = (),
    concurrency: int | None = None,
    on_ready: Callable[[], None] | None = None,
    api: bool = True,
) -> None:
    """Run the chosen parts until ``stop`` is set; returns once every run is settled.

    The API starts first, so a busy port or an unsafe address stops the service before any
    run begins (``ApiRefused``).
    """
    from ..api.server import ApiServer  # imported here: the API layer sits above the engine
    from ..notify import Notifier, wanted

    server = ApiServer(instance) if api else None
    if server is not None:
        server.start()
    threads = []
    if scheduler and wanted(instance.config):
        notifier = Notifier(instance)
        threads.append(threading.Thread(target=notifier.serve, args=(stop,), name="notify"))
    if scheduler:
        part = Scheduler(instance.config, instance.book, instance.clock)
        threads.append(threading.Thread(target=part.serve, args=(stop,), name="scheduler"))
    if worker:
        runner = Worker(
            instance.config, instance.book, instance.clock, tags=tags, concurrency=concurrency
        )
        threads.append(threading.Thread(target=runner.serve, args=(stop,), name="worker"))
    for thread in threads:
        thread.start()
    if on_ready is not None:
        on_ready()
    if not threads:  # the API alone (`sexton api`) serves until told to stop
        stop.wait()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.5)
    if server is not None:
        server.stop()
