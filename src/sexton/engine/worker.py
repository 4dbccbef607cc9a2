"""Workers claim runs of the tasks they can do, run them, and hold them by lease."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy import insert, update

from ..clock import Clock
from ..config import Config, TaskSpec
from ..db import commit_without_waiting, reading
from ..db.tables import run_events, runs, workers
from ..tasks.base import NeedsAttention, Task, TaskFailed, TaskInterrupted, TaskTimedOut
from ..tasks.registry import task_class
from . import shards
from .claims import renew_leases
from .context import EngineRunContext
from .fan_out import coordinate
from .record import Run
from .runbook import Outcome, RunBook
from .states import CANCELLED, FAILED, QUEUED, SUCCEEDED, TIMED_OUT

log = logging.getLogger(__name__)

# A task thread still alive this long after its hard timeout (and kill grace) is given up on.
STUCK_AFTER_SECONDS = 10.0
# On shutdown, running tasks get the kill grace plus this long to stop before being handed back.
SHUTDOWN_SLACK = 2.0


def can_run_here(spec: TaskSpec, tags: Collection[str]) -> bool:
    """Local tasks whose ``runs_on`` tags this worker has, every one of them."""
    return spec.executor == "local" and set(spec.settings.runs_on) <= set(tags)


class Worker:
    def __init__(
        self,
        config: Config,
        book: RunBook,
        clock: Clock,
        *,
        tags: Collection[str] = (),
        concurrency: int | None = None,
        stopping: threading.Event | None = None,
        name: str | None = None,
    ) -> None:
        self.config = config
        self.book = book
        self.clock = clock
        self.settings = config.settings.worker
        self.tags = sorted(set(tags) | set(self.settings.tags))
        self.concurrency = concurrency or self.settings.concurrency
        self.stopping = stopping or threading.Event()
        self.id = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.tasks = [s.name for s in config.tasks.values() if can_run_here(s, self.tags)]
        self._held: dict[int, tuple[Run, EngineRunContext]] = {}
        # Tasks whose runs are split into shards, with their ``fan_out.workers``.
        self.fanned = {
            name: spec.settings.fan_out.workers
            for name in self.tasks
            if (spec := config.tasks[name]).settings.fan_out is not None
        }
        self._held_shards: dict[int, EngineRunContext] = {}
        self._held_lock = threading.Lock()

    # -- one run -------------------------------------------------------------------------

    def run_once(self) -> Run | None:
        """Claim one due run and run it to the end; None when nothing was due."""
        run = self.book.claim(self.tasks, self.id, self.clock.now(), self.settings.lease)
        return self.execute(run) if run is not None else None

    def _context(
        self,
        run_id: int,
        task: str,
        queued_at: datetime,
        on_progress: Callable[[int, int, int | None], None] | None = None,
        shard_of_run_started: datetime | None = None,
    ) -> EngineRunContext:
        """The context a run, or one shard of it (timed from the run's start), works in."""
        shard = shard_of_run_started is not None
        return EngineRunContext(
            run_id,
            queued_at,
            self.config.tasks[task],
            self.config,
            self.book.engine,
            self.clock,
            self.stopping,
            self.settings.kill_grace,
            on_progress=on_progress,
            on_event=lambda text: self._record_event(run_id, task, text, wait=not shard),
            started=shard_of_run_started,
        )

    def execute(
        self, run: Run, on_progress: Callable[[int, int, int | None], None] | None = None
    ) -> Run | None:
        """Run a claimed run and record how it ended; None if the run was taken from us."""
        spec = self.config.tasks[run.task]
        ctx = self._context(run.id, run.task, run.queued_at, on_progress=on_progress)
        with self._held_lock:
            self._held[run.id] = (run, ctx)
        log.info("run %s of %s started (%s, attempt %s)", run.id, run.task, run.reason, run.attempt)
        try:
            outcome = self._perform(spec, ctx)
        finally:
            with self._held_lock:
                self._held.pop(run.id, None)
        now = self.clock.now()
        if outcome is None:
            if ctx.lost.is_set():
                log.warning("run %s of %s was taken over: its lease expired", run.id, run.task)
                return None
            log.info("run %s of %s handed back: this worker is stopping", run.id, run.task)
            return self.book.hand_back(run, now, "handed back: its worker is shutting down")
        took = (now - ctx.started).total_seconds()
        level = logging.INFO if outcome.state == SUCCEEDED else logging.WARNING
        detail = f": {outcome.error}" if outcome.error else ""
        log.log(level, "run %s of %s %s in %.1fs%s", run.id, run.task, outcome.state, took, detail)
        return self.book.finish(run, outcome, now)

    def _perform(self, spec: TaskSpec, ctx: EngineRunContext) -> Outcome | None:
        """Run the task; in its own thread when a hard timeout must be enforced around it."""
        if spec.settings.hard_timeout is None:
            return self._call(spec, ctx)
        box: dict[str, Outcome | None] = {}
        thread = threading.Thread(
            target=lambda: box.update(outcome=self._call(spec, ctx)),
            name=f"run-{ctx.run_id}",
            daemon=True,
        )
        thread.start()
        hard = spec.settings.hard_timeout.total_seconds()
        thread.join(hard + ctx.kill_grace + STUCK_AFTER_SECONDS)
        if thread.is_alive():
            ctx.cancelled.set()
            return self._outcome(ctx, TIMED_OUT, "did not stop after its hard timeout")
        return box.get("outcome")

    def _call(
        self,
        spec: TaskSpec,
        ctx: EngineRunContext,
        work: Callable[[Task], None] | None = None,
    ) -> Outcome | None:
        """Do ``work`` (by default the whole run) and say how it ended."""
        task_type = task_class(spec.type)
        try:
            if task_type is None:
                raise TaskFailed(f"task type {spec.type!r} is not installed on this worker")
            (work or self._whole_run(spec, ctx))(task_type())
        except TaskTimedOut as exc:
            return self._outcome(ctx, TIMED_OUT, str(exc))
        except TaskInterrupted as exc:
            return self._interrupted(ctx, str(exc))
        except NeedsAttention as exc:
            return self._outcome(ctx, FAILED, str(exc), sticky=True)
        except TaskFailed as exc:
            return self._outcome(ctx, FAILED, str(exc))
        except Exception as exc:  # a bug in a task must fail its run, not the worker
            ctx.output(traceback.format_exc())
            return self._outcome(ctx, FAILED, f"{type(exc).__name__}: {exc}")
        if ctx.cancelled.is_set():
            return self._outcome(ctx, CANCELLED, "cancelled")
        return self._outcome(ctx, SUCCEEDED, None)

    def _whole_run(self, spec: TaskSpec, ctx: EngineRunContext) -> Callable[[Task], None]:
        """The run in one piece, or, with ``fan_out``, as shards that workers claim."""
        fan_out = spec.settings.fan_out
        if fan_out is None:
            return lambda task: task.run(ctx)
        # Its own shards whatever this worker's tags (``sexton run`` may start any task).
        caps = {spec.name: fan_out.workers}
        return lambda task: coordinate(
            self.book.engine,
            task,
            ctx,
            fan_out.shard,
            lambda run_id: self.work_shard(run_id, caps),
            self.settings.poll,
        )

    # -- shards of fanned-out runs -------------------------------------------------------

    def work_shard(self, run_id: int | None = None, caps: dict[str, int] | None = None) -> bool:
        """Claim one free shard (of run ``run_id`` only, if given; of the tasks in ``caps``,
        by default those this worker may run) and do it; False when none was free."""
        caps = caps or self.fanned
        if not caps:
            return False
        now = self.clock.now()
        if run_id is None:
            with reading(self.book.engine) as connection:
                if not shards.any_free(connection, caps, now):
                    return False
        with self.book.engine.begin() as connection:
            shard = shards.claim_shard(
                connection, caps, self.id, now, now + self.settings.lease, run_id
            )
        if shard is None:
            return False
        spec = self.config.tasks[shard.task]
        ctx = self._context(
            shard.run_id, shard.task, shard.queued_at, shard_of_run_started=shard.started_at
        )
        with self._held_lock:
            self._held_shards[shard.id] = ctx
        try:
            outcome = self._call(
                spec, ctx, lambda task: task.run_shard(ctx, shard.bounds, shard.queued_at)
            )
        finally:
            with self._held_lock:
                self._held_shards.pop(shard.id, None)
        with self.book.engine.begin() as connection:
            shards.end_shard(
                connection,
                shard.id,
                self.id,
                outcome.state if outcome is not None else QUEUED,
                self.clock.now(),
                items=ctx.items,
                bytes=ctx.bytes,
                error=outcome.error if outcome is not None else None,
                sticky=outcome.sticky if outcome is not None else False,
            )
        return True

    def _interrupted(self, ctx: EngineRunContext, detail: str) -> Outcome | None:
        """A task that stopped on request: why it was asked decides how the run ends."""
        if ctx.cancelled.is_set():
            return self._outcome(ctx, CANCELLED, "cancelled")
        if ctx.soft_timeout_passed():
            return self._outcome(ctx, TIMED_OUT, f"stopped at its soft timeout: {detail}")
        return None  # shutting down or lost: hand the run back

    @staticmethod
    def _outcome(
        ctx: EngineRunContext, state: str, error: str | None, sticky: bool = False
    ) -> Outcome:
        return Outcome(
            state=state,
            error=error,
            exit_code=ctx.exit_code,
            items=ctx.items,
            bytes=ctx.bytes,
            log_tail=ctx.log_tail(),
            sticky=sticky,
        )

    def _record_event(self, run_id: int, task: str, text: str, wait: bool = True) -> None:
        """Add a line to the run's history. A shard's lines (``wait=False``) are committed
        without waiting for the disk, as its claim and end are: its "checked" line waited
        about 4 ms a shard, where 512 tiny files take about 130 ms to check. A crash of the
        database server within the WAL writer's delay (200 ms by default) may lose the last
        of them; the catalog's records of the work itself always wait."""
        with self.book.engine.begin() as connection:
            if not wait:
                commit_without_waiting(connection)
            connection.execute(
                insert(run_events).values(
                    run_id=run_id, task=task, at=self.clock.now(), message=text
                )
            )

    # -- the long-running worker ---------------------------------------------------------

    def heartbeat(self) -> None:
        """Renew leases, publish progress, and pass on cancel requests and lost leases."""
        now = self.clock.now()
        with self._held_lock:
            held = dict(self._held)
            held_shards = dict(self._held_shards)
        with self.book.engine.begin() as connection:
            connection.execute(
                update(workers).where(workers.c.id == self.id).values(heartbeat_at=now)
            )
            flags = renew_leases(connection, self.id, held, now + self.settings.lease)
            for run_id, (_run, ctx) in held.items():
                connection.execute(
                    update(runs)
                    .where(runs.c.id == run_id, runs.c.worker == self.id)
                    .values(items=ctx.items, bytes=ctx.bytes, log_tail=ctx.log_tail())
                )
            counts = {i: (c.items, c.bytes) for i, c in held_shards.items()}
            shard_flags = shards.renew_shard_leases(
                connection, self.id, counts, now + self.settings.lease
            )
        for run_id, (_run, ctx) in held.items():
            if run_id not in flags:
                ctx.lost.set()
            elif flags[run_id]:
                ctx.cancelled.set()
        for shard_id, ctx in held_shards.items():
            if shard_id not in shard_flags:
                ctx.lost.set()
            elif shard_flags[shard_id]:
                ctx.cancelled.set()

    def register(self) -> None:
        now = self.clock.now()
        with self.book.engine.begin() as connection:
            connection.execute(
                insert(workers).values(
                    id=self.id,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    tags=",".join(self.tags),
                    started_at=now,
                    heartbeat_at=now,
                )
            )

    def serve(self, stop: threading.Event) -> None:
        """Run ``concurrency`` claim loops and a heartbeat until ``stop``; then stop the
        running tasks, wait for them, and hand back whatever could not finish."""
        self.register()
        loops = [
            threading.Thread(target=self._claim_loop, args=(stop,), name=f"worker-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        for thread in loops:
            thread.start()
        interval = self.settings.lease.total_seconds() / 3
        while not stop.wait(interval):
            self._safe_heartbeat()
        self.stopping.set()
        deadline = time.monotonic() + self.settings.kill_grace.total_seconds() + SHUTDOWN_SLACK
        for thread in loops:
            while thread.is_alive() and time.monotonic() < deadline:
                thread.join(min(interval, SHUTDOWN_SLACK))
                self._safe_heartbeat()
        with self._held_lock:
            unfinished = [run for run, _ctx in self._held.values()]
        for run in unfinished:  # tasks that ignored the stop request: another worker resumes
            self.book.hand_back(run, self.clock.now(), "handed back: its worker stopped")
        with self.book.engine.begin() as connection:
            connection.execute(
                update(workers).where(workers.c.id == self.id).values(stopped_at=self.clock.now())
            )

    def _safe_heartbeat(self) -> None:
        try:
            self.heartbeat()
        except Exception:  # keep trying; the lease has slack for a missed beat
            log.exception("heartbeat failed")

    def _claim_loop(self, stop: threading.Event) -> None:
        poll = self.settings.poll.total_seconds()
        while not stop.is_set():
            try:
                worked = self.run_once() is not None or self.work_shard()
            except Exception:  # e.g. a deadlock the database broke: log, wait, try again
                log.exception("claiming or finishing a run failed")
                worked = False
            if not worked:
                stop.wait(poll)
