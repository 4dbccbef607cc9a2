"""The context a task runs in: its parameters, counters, log tail and stop signals."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import Engine

from ..catalog import Catalog, OpenStores
from ..clock import Clock
from ..config import Config, TaskSpec
from ..stores import Store

LOG_TAIL_LINES = 200  # what `sexton runs show` displays; the full output is the task's business
LOG_TAIL_CHARS = 64_000


class EngineRunContext:
    """Implements ``sexton.tasks.base.RunContext`` for one run."""

    def __init__(
        self,
        run_id: int,
        queued_at: datetime,
        spec: TaskSpec,
        config: Config,
        engine: Engine,
        clock: Clock,
        stopping: threading.Event,
        kill_grace: timedelta,
        on_progress: Callable[[int, int, int | None], None] | None = None,
        on_event: Callable[[str], None] | None = None,
        started: datetime | None = None,
    ) -> None:
        self.run_id = run_id
        self.queued_at = queued_at
        self.task_name = spec.name
        self.config = config  # for task types that need stores or other tasks' settings
        self.engine = engine  # for task types that keep records (the catalog)
        self.params = spec.params
        self.env: Mapping[str, str] = spec.env
        self.log = logging.getLogger(f"sexton.run.{spec.name}")
        self.kill_grace = kill_grace.total_seconds()
        self.clock = clock
        # A shard's context starts when its run did, so the run's timeouts hold for it too.
        self.started = started or clock.now()
        self._soft = (
            self.started + spec.settings.soft_timeout if spec.settings.soft_timeout else None
        )
        self._hard = (
            self.started + spec.settings.hard_timeout if spec.settings.hard_timeout else None
        )
        self._stopping = stopping  # set by the service on shutdown
        self.cancelled = threading.Event()  # set when someone cancels this run
        self.lost = threading.Event()  # set when the lease was lost to another worker
        self.items = 0
        self.bytes = 0
        self.total: int | None = None
        self._tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self._lock = threading.Lock()
        self._on_progress = on_progress
        self._on_event = on_event
        self.exit_code: int | None = None

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.engine, self.clock, self.config.settings.checksum)

    @cached_property
    def stores(self) -> Mapping[str, Store]:
        """The configured stores, each connected on first use."""
        return OpenStores(self.config.settings.stores)

    def now(self) -> datetime:
        return self.clock.now()

    def soft_timeout_passed(self) -> bool:
        return self._soft is not None and self.clock.now() >= self._soft

    def should_stop(self) -> bool:
        return (
            self._stopping.is_set()
            or self.cancelled.is_set()
            or self.lost.is_set()
            or self.soft_timeout_passed()
        )

    def hard_deadline(self) -> datetime | None:
        return self._hard

    def progress(self, items: int = 0, bytes: int = 0, total: int | None = None) -> None:
        with self._lock:
            self.items += items
            self.bytes += bytes
            if total is not None:
                self.total = total
        if self._on_progress is not None:
            self._on_progress(self.items, self.bytes, self.total)

    def set_counts(self, items: int, bytes: int, total: int | None) -> None:
        """Replace the counts (a fanned-out run's are the sums of its shards')."""
        with self._lock:
            self.items, self.bytes, self.total = items, bytes, total
        if self._on_progress is not None:
            self._on_progress(items, bytes, total)

    def wait(self, interval: timedelta) -> None:
        """Wait ``interval``, or less if the service stops meanwhile."""
        self._stopping.wait(interval.total_seconds())

    def event(self, message: str, **data: Any) -> None:
        detail = " ".join(f"{key}={value}" for key, value in data.items())
        text = f"{message} {detail}".strip()
        self.log.info("%s", text)
        self.output(text)
        if self._on_event is not None:
            self._on_event(text)

    def output(self, text: str) -> None:
        with self._lock:
            for line in text.splitlines() or [""]:
                self._tail.append(line)

    def log_tail(self) -> str:
        with self._lock:
            text = "\n".join(self._tail)
        return text[-LOG_TAIL_CHARS:]
