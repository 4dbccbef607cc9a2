"""Operations on runs that follow the configured policies: queueing, claiming, finishing
(retries, ``after`` followers, sticky errors), cancelling, and reports from elsewhere."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import IntegrityError

from ..config import Config, TaskSpec
from ..db import is_postgres, reading
from ..db.tables import runs, task_state
from ..tasks.registry import task_class
from .claims import (
    UNDECIDED,
    ClaimRequest,
    ClaimRules,
    abandon,
    any_expired,
    check_rules,
    claim_in_one_statement,
    claim_next,
    expired_runs,
    free_lane,
    lanes_taken,
    renew_leases,
    start,
)
from .record import Run, create_run, delete_finished_runs, get_run, transition
from .states import (
    ABANDONED,
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    UNSUCCESSFUL,
)

# Executors whose runs wait in the queue for a worker or another service to claim them.
QUEUED_EXECUTORS = ("local", "external")
CLAIM_ATTEMPTS = 3  # a claim that keeps losing lanes to others gives up until the next poll


class RunRefused(Exception):
    """A run cannot be started or recorded now; the message says why, for the user."""


class UnknownRun(RunRefused):
    """No run has the id asked about (the API answers 404 rather than 409)."""


@dataclass(frozen=True)
class Outcome:
    """How a run ended, as the worker saw it."""

    state: str
    error: str | None = None
    exit_code: int | None = None
    items: int = 0
    bytes: int = 0
    log_tail: str | None = None
    sticky: bool = False  # the failure needs a person: kept until `sexton clear`


class RunBook:
    def __init__(self, config: Config, engine: Engine) -> None:
        self.config = config
        self.engine = engine
        # Single statements that are their own transaction (PostgreSQL's autocommit).
        self.statement_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.rules = {name: _claim_rules(spec, config) for name, spec in config.tasks.items()}
        self.followers: dict[str, list[str]] = {}
        for spec in config.tasks.values():
            for leader in spec.settings.after:
                self.followers.setdefault(leader, []).append(spec.name)

    # -- creating runs -------------------------------------------------------------------

    def queue(self, task: str, reason: str, now: datetime) -> Run:
        """Queue a run now (`sexton trigger`, the API, `after`, `at_start`)."""
        spec = self.config.task(task)
        if spec.executor not in QUEUED_EXECUTORS:
            how = "sexton done" if spec.executor == "manual" else "sexton ping"
            raise RunRefused(
                f"{task} is {article(spec.executor)} task: it is recorded with `{how}`"
            )
        refuse_if_disabled(spec)
        with self.engine.begin() as connection:
            run_id = create_run(
                connection,
                task=task,
                reason=reason,
                now=now,
                executor=spec.executor,
                concurrency=spec.settings.concurrency,
            )
            assert run_id is not None
            run = get_run(connection, run_id)
        assert run is not None
        return run

    def start_now(self, task: str, worker: str, now: datetime, lease: timedelta) -> Run:
        """Create and claim a run in one transaction (`sexton run`): either it is running,
        or nothing was recorded and ``RunRefused`` says why."""
        spec = self.config.task(task)
        refuse_if_disabled(spec)
        rules = self.rules[task]
        with self.engine.begin() as connection:
            refusal = check_rules(connection, task, rules)
            if refusal is not None:
                raise RunRefused(f"{task}: {refusal.reason}")
            run_id = create_run(
                connection,
                task=task,
                reason="manual",
                now=now,
                executor="local",
                concurrency=spec.settings.concurrency,
            )
            assert run_id is not None
            lane = free_lane(lanes_taken(connection, [task])[task], spec.settings.concurrency)
            run = None
            if lane is not None:
                try:
                    run = start(connection, run_id, task, lane, worker, now, lease, rules)
                except IntegrityError:  # a worker took the same lane at the same moment
                    raise RunRefused(f"{task} is already running") from None
            if run is None:
                busy = connection.execute(
                    select(runs.c.id, runs.c.worker).where(
                        runs.c.task == task, runs.c.state == RUNNING
                    )
                ).first()
                connection.rollback()
                holder = f" (run {busy.id} on {busy.worker})" if busy else ""
                raise RunRefused(f"{task} is already running{holder}")
        return run

    def record_done(self, task: str, note: str | None, now: datetime) -> Run:
        """A person did a manual duty: a succeeded run with their note."""
        spec = self.config.task(task)
        with self.engine.begin() as connection:
            run_id = create_run(
                connection,
                task=task,
                reason="manual",
                now=now,
                executor=spec.executor,
                state=RUNNING,
                started_at=now,
                worker="person",
            )
            assert run_id is not None
            run = transition(connection, run_id, RUNNING, SUCCEEDED, now, "done", note=note)
        assert run is not None
        return run

    def ping(
        self,
        task: str,
        signal: str,
        now: datetime,
        exit_code: int | None,
        reason: str = "manual",
        log: str | None = None,
        rid: str | None = None,
    ) -> Run:
        """A job run elsewhere reports ``start``, ``success`` or ``fail`` (``log``: the output
        it sent along, kept as the run's log tail). An end pairs with the newest open start
        of the same ``rid`` (the job's own run id), so overlapping jobs keep their own runs."""
        spec = self.config.task(task)
        reporter = "remote" if rid is None else f"ping:{rid}"  # kept in the worker column
        with self.engine.begin() as connection:
            open_run = connection.execute(
                select(runs.c.id)
                .where(
                    runs.c.task == task,
                    runs.c.state == RUNNING,
                    runs.c.executor == "heartbeat",
                    runs.c.worker == reporter,
                )
                .order_by(runs.c.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if signal == "start":
                if open_run is not None:
                    transition(
                        connection,
                        open_run,
                        RUNNING,
                        FAILED,
                        now,
                        "started again before reporting",
                        error="started again before it reported success or failure",
                    )
                run_id = create_run(
                    connection,
                    task=task,
                    reason=reason,
                    now=now,
                    executor=spec.executor,
                    state=RUNNING,
                    started_at=now,
                    worker=reporter,
                )
                run = get_run(connection, run_id) if run_id else None
            else:
                if open_run is None:
                    open_run = create_run(
                        connection,
                        task=task,
                        reason=reason,
                        now=now,
                        executor=spec.executor,
                        state=RUNNING,
                        started_at=now,
                        worker=reporter,
                    )
                    assert open_run is not None
                failed = signal == "fail" or (exit_code not in (None, 0))
                error = None
                if failed:
                    error = (
                        f"exit code {exit_code}"
                        if exit_code not in (None, 0)
                        else "reported failure"
                    )
                run = transition(
                    connection,
                    open_run,
                    RUNNING,
                    FAILED if failed else SUCCEEDED,
                    now,
                    f"ping {signal}",
                    error=error,
                    exit_code=exit_code,
                    log_tail=log,
                )
        assert run is not None
        return run

    # -- claiming and finishing ----------------------------------------------------------

    def claim(
        self,
        tasks: Collection[str],
        worker: str,
        now: datetime,
        lease: timedelta,
        executor: str = "local",
    ) -> Run | None:
        """Claim the oldest due run this worker may start, or None. A claim that lost a lane
        to a simultaneous one is tried again from the start, in a new transaction."""
        request = ClaimRequest(tasks, executor, worker, now, lease, self.rules)
        for _ in range(CLAIM_ATTEMPTS):
            try:
                if is_postgres(self.engine):
                    with self.statement_engine.connect() as connection:
                        run = claim_in_one_statement(connection, request)
                    if run is not UNDECIDED:
                        return run
                with self.engine.begin() as connection:
                    return claim_next(connection, request)
            except IntegrityError:
                continue
        return None

    def finish(self, run: Run, outcome: Outcome, now: datetime) -> Run | None:
        """Record how a run ended and what follows from it, in one transaction."""
        spec = self.config.tasks.get(run.task)
        alone = self._finishes_alone(spec, run, outcome)
        with self.statement_engine.connect() if alone else self.engine.begin() as connection:
            finished = transition(
                connection,
                run.id,
                RUNNING,
                outcome.state,
                now,
                outcome.error,
                held_by=run.worker,
                error=outcome.error,
                exit_code=outcome.exit_code,
                items=outcome.items,
                bytes=outcome.bytes,
                log_tail=outcome.log_tail,
            )
            if finished is None or spec is None:
                return finished
            if outcome.sticky:
                connection.execute(
                    update(task_state)
                    .where(task_state.c.task == run.task)
                    .values(sticky_error=outcome.error)
                )
            if finished.state == SUCCEEDED:
                for follower in self.followers.get(run.task, []):
                    follower_spec = self.config.tasks[follower]
                    if follower_spec.settings.enabled:
                        create_run(
                            connection,
                            task=follower,
                            reason="after",
                            now=now,
                            executor=follower_spec.executor,
                            concurrency=follower_spec.settings.concurrency,
                        )
            elif finished.state in UNSUCCESSFUL and not outcome.sticky:
                self._queue_retry(connection, spec, finished, now)
        return finished

    def _finishes_alone(self, spec: TaskSpec | None, run: Run, outcome: Outcome) -> bool:
        """Whether recording this end is one statement on PostgreSQL (the state change, its
        event and the summary: see ``transition``), with nothing to follow in the same
        transaction: no sticky error, no ``after`` follower, no retry. Most runs end so, and
        one statement in autocommit spares the round trips of BEGIN and COMMIT."""
        if not is_postgres(self.engine):
            return False
        if spec is None:
            return True
        if outcome.sticky:
            return False
        if outcome.state == SUCCEEDED:
            return not self.followers.get(run.task)
        return outcome.state not in UNSUCCESSFUL or spec.settings.retries.delay(run.attempt) is None

    def _queue_retry(self, connection: Connection, spec: TaskSpec, run: Run, now: datetime) -> None:
        delay = spec.settings.retries.delay(run.attempt)
        if delay is None:
            return
        create_run(
            connection,
            task=run.task,
            reason="retry",
            now=now,
            executor=run.executor,
            concurrency=run.concurrency,
            not_before=now + delay,
            attempt=run.attempt + 1,
            retry_of=run.id,
        )

    def hand_back(self, run: Run, now: datetime, why: str) -> Run | None:
        """Return an unfinished run to the queue (its worker is shutting down)."""
        with self.engine.begin() as connection:
            return transition(
                connection,
                run.id,
                RUNNING,
                QUEUED,
                now,
                why,
                held_by=run.worker,
                worker=None,
                started_at=None,
                not_before=now,
            )

    def reap(self, now: datetime) -> list[Run]:
        """Abandon runs whose lease expired and retry them (a dead worker is not the task's
        fault: at least one retry, more if ``retries.max`` allows)."""
        handled: list[Run] = []
        with reading(self.engine) as connection:
            if not any_expired(connection, now):  # the usual case: no write lock needed
                return handled
        with self.engine.begin() as connection:
            for run in expired_runs(connection, now):
                lost = abandon(connection, run, now)
                if lost is None:
                    continue
                spec = self.config.tasks.get(run.task)
                allowed = max(spec.settings.retries.max, 1) if spec else 0
                if run.cancel_requested or run.attempt > allowed:
                    why = (
                        "cancelled; its worker was lost" if run.cancel_requested else "worker lost"
                    )
                    result = transition(connection, run.id, ABANDONED, FAILED, now, why, error=why)
                else:
                    result = transition(
                        connection,
                        run.id,
                        ABANDONED,
                        QUEUED,
                        now,
                        "retrying after its worker was lost",
                        attempt=run.attempt + 1,
                        worker=None,
                        started_at=None,
                        not_before=now,
                    )
                if result is not None:
                    handled.append(result)
        return handled

    # -- people's requests ---------------------------------------------------------------

    def cancel(self, run_id: int, now: datetime) -> Run:
        """Cancel a queued run at once; ask a running one to stop (its worker ends it)."""
        with self.engine.begin() as connection:
            run = get_run(connection, run_id)
            if run is None:
                raise UnknownRun(f"no run with id {run_id}")
            if run.state == QUEUED:
                cancelled = transition(connection, run_id, QUEUED, CANCELLED, now, "cancelled")
                if cancelled is not None:
                    return cancelled
            if run.state in (RUNNING, ABANDONED):
                connection.execute(
                    update(runs).where(runs.c.id == run_id).values(cancel_requested=True)
                )
                refreshed = get_run(connection, run_id)
                assert refreshed is not None
                return refreshed
            raise RunRefused(f"run {run_id} is already {run.state}")

    def delete_finished(self, task: str) -> int:
        """Forget a task's finished runs and their events (the job initiator's "clean jobs"
        call); queued and running runs stay. Returns how many runs went."""
        self.config.task(task)
        with self.engine.begin() as connection:
            return delete_finished_runs(connection, runs.c.task == task)

    # -- runs claimed by other services (executor: external) -----------------------------

    def renew_external(
        self, run_id: int, worker: str | None, now: datetime, lease: timedelta
    ) -> tuple[Run, bool]:
        """An external service still works on its run: extend the lease. Returns the run
        and whether a cancel was asked for (the service should stop and report)."""
        with self.engine.begin() as connection:
            run = _held_external(connection, run_id, worker)
            flags = renew_leases(connection, str(run.worker), [run.id], now + lease)
            if run.id not in flags:
                raise RunRefused(f"run {run_id} is no longer running")
            renewed = get_run(connection, run_id)
        assert renewed is not None
        return renewed, flags[run.id]

    def finish_external(
        self, run_id: int, worker: str | None, outcome: Outcome, now: datetime
    ) -> Run:
        """An external service reports how its run ended; recorded like a worker's finish
        (retries, ``after`` followers), so the same policies hold."""
        with reading(self.engine) as connection:
            run = _held_external(connection, run_id, worker)
        finished = self.finish(run, outcome, now)
        if finished is None:
            raise RunRefused(f"run {run_id} is no longer running (its lease may have expired)")
        return finished

    def clear(self, task: str) -> None:
        """Forget a sticky error and the failure count, after a person has looked; and what
        the task's type leaves for a person (``Task.cleared``)."""
        spec = self.config.task(task)
        task_type = task_class(spec.type)
        with self.engine.begin() as connection:
            connection.execute(
                update(task_state)
                .where(task_state.c.task == task)
                .values(sticky_error=None, failures=0)
            )
            if task_type is not None:
                task_type.cleared(connection, spec.params)


def refuse_if_disabled(spec: TaskSpec) -> None:
    """A switched-off task gets no runs at all, not even on request: the switch is often how
    an environment says "never do this here" (``enabled: ${ENABLE_HEALING:-true}``)."""
    if not spec.settings.enabled:
        raise RunRefused(f"{spec.name} is disabled (enabled: false); enable it to run it")


def article(word: str) -> str:
    """``word`` with its indefinite article: "an external", "a manual"."""
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _held_external(connection: Connection, run_id: int, worker: str | None) -> Run:
    """The running external run ``run_id``, held by ``worker`` when one is named."""
    run = get_run(connection, run_id)
    if run is None:
        raise UnknownRun(f"no run with id {run_id}")
    if run.executor != "external":
        raise RunRefused(f"run {run_id} is {article(run.executor)} run, not an external one")
    if run.state != RUNNING:
        raise RunRefused(f"run {run_id} is {run.state}, not running")
    if worker is not None and run.worker != worker:
        raise RunRefused(f"run {run_id} is held by {run.worker}, not {worker}")
    return run


def _claim_rules(spec: TaskSpec, config: Config) -> ClaimRules:
    partners = set(spec.settings.exclusive_with)
    partners |= {o.name for o in config.tasks.values() if spec.name in o.settings.exclusive_with}
    return ClaimRules(
        requires=tuple(spec.settings.requires),
        exclusive_with=tuple(sorted(partners)),
        skip_on_conflict=spec.settings.on_conflict == "skip",
        concurrency=spec.settings.concurrency,
    )
