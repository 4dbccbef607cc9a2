"""Creating due runs. Any number of schedulers may run at once: they compute the same slots
and the database keeps one run per ``(task, slot)``."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import Connection, or_, select, update

from ..clock import Clock
from ..config import Config, TaskSpec
from ..db.tables import runs, task_state
from ..schedule import Schedule
from .monitor import Monitor
from .record import create_run, ensure_task_rows, prune_history, transition
from .runbook import QUEUED_EXECUTORS, RunBook
from .states import QUEUED, RUNNING, SKIPPED

log = logging.getLogger(__name__)

# With catch_up "none", a slot is still "now" (not missed) if the scheduler sees it this soon.
MISSED_AFTER = timedelta(minutes=1)
CATCH_UP_ALL_LIMIT = 1000  # slots created per task per tick, so a long outage cannot stall a tick
PRUNE_EVERY = timedelta(hours=1)


def slots_due(schedule: Schedule, catch_up: str, last: datetime, now: datetime) -> list[datetime]:
    """The slots to queue at ``now`` when ``last`` is the newest slot already handled and
    a newer one is due: every missed one (``all``), only the newest (``latest``), or none
    if it was missed (``none``). ``sexton simulate`` asks this too, so it cannot differ."""
    newest = schedule.latest_at_or_before(now)
    if catch_up == "all":
        slots: list[datetime] = []
        slot = schedule.next_after(last)
        while slot <= now and len(slots) < CATCH_UP_ALL_LIMIT:
            slots.append(slot)
            slot = schedule.next_after(slot)
        return slots
    if catch_up == "none" and now - newest > MISSED_AFTER:
        return []
    return [newest]


class Scheduler:
    def __init__(self, config: Config, book: RunBook, clock: Clock) -> None:
        self.config = config
        self.book = book
        self.engine = book.engine
        self.clock = clock
        self.monitor = Monitor(config, book.engine)
        self._last_prune: datetime | None = None
        # The newest slot known handled per task. Only a lower bound when several schedulers
        # run (another may be ahead), which is safe: it only saves asking the database
        # while no new slot can be due.
        self._handled: dict[str, datetime] = {}

    def start(self) -> None:
        """At service start: know every task, and queue the ``at_start`` runs (initial sync)."""
        now = self.clock.now()
        ensure_task_rows(self.engine, self.config.tasks, now)
        with self.engine.begin() as connection:
            for spec in self.config.tasks.values():
                if spec.schedule is not None:
                    # First sight: the first run is at the next slot; nothing is backfilled.
                    self._advance(connection, spec.name, spec.schedule.latest_at_or_before(now))
        for spec in self.config.tasks.values():
            # An on-demand task (no schedule) may start at start too: the initial sync.
            queued = spec.executor in QUEUED_EXECUTORS
            if spec.settings.at_start and spec.settings.enabled and queued:
                with self.engine.begin() as connection:
                    pending = connection.execute(
                        select(runs.c.id)
                        .where(runs.c.task == spec.name, runs.c.state.in_((QUEUED, RUNNING)))
                        .limit(1)
                    ).first()
                if pending is None:
                    self.book.queue(spec.name, "start", now)

    def tick(self, now: datetime | None = None) -> None:
        """One pass: queue due runs, retry runs of dead workers, note status flips, prune."""
        now = now or self.clock.now()
        for spec in self.config.tasks.values():
            if spec.settings.enabled and self._schedulable(spec):
                self._queue_due(spec, now)
        self.book.reap(now)
        self.monitor.record_flips(now)
        if self._last_prune is None or now - self._last_prune >= PRUNE_EVERY:
            prune_history(self.engine, now - self.config.settings.history.keep)
            self._last_prune = now

    def serve(self, stop: threading.Event) -> None:
        self.start()
        poll = self.config.settings.scheduler.poll.total_seconds()
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # a database hiccup must not kill the scheduler; say it and go on
                log.exception("scheduler tick failed")
            stop.wait(poll)

    @staticmethod
    def _schedulable(spec: TaskSpec) -> bool:
        return spec.schedule is not None and spec.executor in QUEUED_EXECUTORS

    def _queue_due(self, spec: TaskSpec, now: datetime) -> None:
        schedule = spec.schedule
        assert schedule is not None
        newest = schedule.latest_at_or_before(now)
        known = self._handled.get(spec.name)
        if known is not None and newest <= known:
            return
        with self.engine.begin() as connection:
            last = connection.execute(
                select(task_state.c.last_slot).where(task_state.c.task == spec.name)
            ).scalar_one_or_none()
            if last is None or newest <= last:
                if last is not None:
                    self._handled[spec.name] = last
                return
            catch_up = spec.settings.catch_up
            slots = slots_due(schedule, catch_up, last, now)
            for slot in slots:
                self._queue_slot(connection, spec, slot, now, supersede=catch_up != "all")
            handled = slots[-1] if slots else newest
            self._advance(connection, spec.name, handled)
        self._handled[spec.name] = handled

    def _queue_slot(
        self, connection: Connection, spec: TaskSpec, slot: datetime, now: datetime, supersede: bool
    ) -> None:
        run_id = create_run(
            connection,
            task=spec.name,
            reason="schedule",
            now=now,
            executor=spec.executor,
            concurrency=spec.settings.concurrency,
            slot=slot,
            not_before=slot,
            ignore_existing_slot=True,
        )
        if run_id is None or not supersede:
            return
        # One run stands for all missed slots: older scheduled runs still waiting are dropped.
        waiting = connection.execute(
            select(runs.c.id).where(
                runs.c.task == spec.name,
                runs.c.state == QUEUED,
                runs.c.reason == "schedule",
                runs.c.slot < slot,
            )
        ).scalars()
        for old in list(waiting):
            transition(connection, old, QUEUED, SKIPPED, now, f"superseded by run {run_id}")

    @staticmethod
    def _advance(connection: Connection, task: str, slot: datetime) -> None:
        """Move the task's handled-slot mark forward, never back: another scheduler may be
        ahead of this one."""
        connection.execute(
            update(task_state)
            .where(
                task_state.c.task == task,
                or_(task_state.c.last_slot.is_(None), task_state.c.last_slot < slot),
            )
            .values(last_slot=slot)
        )
