"""Running: retries and defer, requires, after, exclusive_with, lanes, leases, cancel."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from sexton.db.tables import runs
from sexton.engine import claims
from sexton.engine.monitor import Monitor
from sexton.engine.runbook import RunRefused
from sexton.engine.scheduler import Scheduler
from sexton.engine.worker import Worker
from support import run_states


def worker_for(instance, **kwargs):
    return Worker(instance.config, instance.book, instance.clock, **kwargs)


def drain(worker):
    while worker.run_once():
        pass


def test_failed_run_is_retried_with_exponential_backoff(open_instance, clock, recorder):
    instance = open_instance(
        "tasks:\n  - name: flaky\n    type: test_note\n    fail_times: 2\n"
        "    retries: {max: 3, backoff: 10s, factor: 3}\n"
    )
    worker = worker_for(instance)
    instance.book.queue("flaky", "manual", clock.now())
    drain(worker)
    assert recorder.calls == ["flaky"]  # the retry waits for its backoff
    clock.advance(timedelta(seconds=9))
    drain(worker)
    assert recorder.calls == ["flaky"]
    clock.advance(timedelta(seconds=1))
    drain(worker)  # second attempt fails too; the next waits 30 s
    clock.advance(timedelta(seconds=29))
    drain(worker)
    assert len(recorder.calls) == 2
    clock.advance(timedelta(seconds=1))
    drain(worker)
    assert run_states(instance) == [
        ("flaky", "manual", "failed", 1),
        ("flaky", "retry", "failed", 2),
        ("flaky", "retry", "succeeded", 3),
    ]


def test_after_quick_retries_a_deferred_retry_waits_and_shows_in_status(
    open_instance, clock, recorder
):
    instance = open_instance(
        "tasks:\n  - name: transfer\n    type: test_note\n    fail_times: 3\n"
        "    retries: {max: 1, backoff: 1m, defer: 6h}\n"
    )
    worker = worker_for(instance)
    instance.book.queue("transfer", "manual", clock.now())
    drain(worker)
    clock.advance(timedelta(minutes=1))
    drain(worker)
    status = Monitor(instance.config, instance.engine).statuses(clock.now())[0]
    assert status.retry_at == clock.now() + timedelta(hours=6)
    assert status.status == "down"
    clock.advance(timedelta(hours=6))
    drain(worker)  # the deferred attempt fails as well and defers again
    clock.advance(timedelta(hours=6))
    drain(worker)
    assert [s[2] for s in run_states(instance)] == ["failed", "failed", "failed", "succeeded"]


def test_requires_skips_runs_until_the_initial_sync_succeeded(open_instance, clock, recorder):
    instance = open_instance(
        "tasks:\n"
        "  - {name: initial-sync, type: test_note}\n"
        "  - {name: healing, type: test_note, requires: [initial-sync]}\n"
    )
    worker = worker_for(instance)
    instance.book.queue("healing", "schedule", clock.now())
    drain(worker)
    assert recorder.calls == []
    skipped = run_states(instance, "healing")
    assert skipped == [("healing", "schedule", "skipped", 1)]
    with pytest.raises(RunRefused, match="initial-sync"):
        instance.book.start_now("healing", "cli", clock.now(), timedelta(seconds=30))
    instance.book.queue("initial-sync", "manual", clock.now())
    instance.book.queue("healing", "manual", clock.now())
    drain(worker)
    assert recorder.calls == ["initial-sync", "healing"]


def test_after_queues_a_run_after_each_success_only(open_instance, clock, recorder):
    instance = open_instance(
        "tasks:\n"
        "  - {name: acl-update, type: test_note, fail_times: 1}\n"
        "  - {name: website-check, type: test_note, after: acl-update}\n"
    )
    worker = worker_for(instance)
    instance.book.queue("acl-update", "manual", clock.now())
    drain(worker)
    assert recorder.calls == ["acl-update"]  # failed: no follower
    instance.book.queue("acl-update", "manual", clock.now())
    drain(worker)
    assert recorder.calls == ["acl-update", "acl-update", "website-check"]
    assert run_states(instance, "website-check") == [("website-check", "after", "succeeded", 1)]


def test_single_instance_task_never_has_two_running_runs(open_instance, clock, recorder):
    instance = open_instance("tasks:\n  - {name: slow, type: test_wait}\n")
    first, second = worker_for(instance), worker_for(instance)
    instance.book.queue("slow", "manual", clock.now())
    instance.book.queue("slow", "manual", clock.now())
    holder = threading.Thread(target=first.run_once)
    holder.start()
    while not recorder.calls:
        threading.Event().wait(0.01)
    assert second.run_once() is None  # the second run waits: the task's one lane is taken
    with pytest.raises(RunRefused, match="already running"):
        instance.book.start_now("slow", "cli", clock.now(), timedelta(seconds=30))
    recorder.release.set()
    holder.join()
    assert second.run_once() is not None
    assert [s[2] for s in run_states(instance)] == ["succeeded", "succeeded"]


def test_the_database_refuses_a_second_running_run_in_the_same_lane(open_instance, clock):
    instance = open_instance("tasks:\n  - {name: t, type: test_note}\n")
    for _ in range(2):
        instance.book.queue("t", "manual", clock.now())
    with pytest.raises(sa.exc.IntegrityError), instance.engine.begin() as connection:
        connection.execute(sa.update(runs).values(state="running", lane=0))


def test_concurrency_allows_that_many_runs_at_once(open_instance, clock, recorder):
    instance = open_instance("tasks:\n  - {name: wide, type: test_wait, concurrency: 2}\n")
    for _ in range(3):
        instance.book.queue("wide", "manual", clock.now())
    workers = [worker_for(instance) for _ in range(3)]

    def claim_one(worker):
        while worker.run_once() is None:  # a claim that loses a race simply tries again
            pass

    threads = [threading.Thread(target=claim_one, args=(w,)) for w in workers[:2]]
    for thread in threads:
        thread.start()
    while len(recorder.calls) < 2:
        threading.Event().wait(0.01)
    assert workers[2].run_once() is None
    recorder.release.set()
    for thread in threads:
        thread.join()


def test_a_claim_that_loses_its_lane_to_another_tries_again_with_a_free_one(
    open_instance, clock, monkeypatch
):
    instance = open_instance("tasks:\n  - {name: wide, type: test_note, concurrency: 2}\n")
    if instance.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL claims a task without rules in one statement: see the next test")
    for _ in range(2):
        instance.book.queue("wide", "manual", clock.now())
    first = instance.book.claim(["wide"], "w1", clock.now(), timedelta(minutes=1))
    assert first is not None
    # The second claim reads the lanes before the first one's commit is visible: it picks
    # the lane the first holds, and the database refuses it.
    stale = iter([{"wide": set()}])
    real = claims.lanes_taken
    monkeypatch.setattr(claims, "lanes_taken", lambda c, t: next(stale, None) or real(c, t))
    monkeypatch.setattr(claims, "free_lane", lambda taken, n: min(set(range(n)) - taken))
    if first.lane != 0:  # make the stale pick collide whatever lane the first one drew
        monkeypatch.setattr(claims, "free_lane", lambda taken, n: max(set(range(n)) - taken))
    second = instance.book.claim(["wide"], "w2", clock.now(), timedelta(minutes=1))
    assert second is not None and {first.lane, second.lane} == {0, 1}


def test_a_postgresql_claim_racing_an_uncommitted_start_never_runs_a_second_run(
    open_instance, clock
):
    """The one-statement claim cannot see a start not yet committed: it picks the same lane,
    waits on the unique index, and when that start commits it loses and claims nothing."""
    instance = open_instance("tasks:\n  - {name: t, type: test_note}\n")
    if instance.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises its writers: the race cannot happen there")
    first, _ = (instance.book.queue("t", "manual", clock.now()) for _ in range(2))
    result = {}
    with instance.engine.connect() as holder:
        with holder.begin():
            holder.execute(
                sa.update(runs).where(runs.c.id == first.id).values(state="running", lane=0)
            )
            claimer = threading.Thread(
                target=lambda: result.update(
                    run=instance.book.claim(["t"], "w2", clock.now(), timedelta(minutes=1))
                )
            )
            claimer.start()
            waiting = sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            with instance.engine.connect() as watcher:
                for _ in range(1000):
                    if watcher.execute(waiting).scalar_one():
                        break
                    threading.Event().wait(0.01)
                else:
                    pytest.fail("the claim never waited for the uncommitted start")
        claimer.join()
    assert result["run"] is None
    assert [state for *_, state, _attempt in run_states(instance)] == ["running", "queued"]


def test_exclusive_with_waits_or_skips_while_the_partner_runs(open_instance, clock, recorder):
    instance = open_instance(
        "tasks:\n"
        "  - {name: dump, type: test_wait}\n"
        "  - {name: heal, type: test_note, exclusive_with: [dump]}\n"
        "  - {name: sync, type: test_note, exclusive_with: [dump], on_conflict: skip}\n"
    )
    holder = threading.Thread(target=worker_for(instance).run_once)
    instance.book.queue("dump", "manual", clock.now())
    holder.start()
    while not recorder.calls:
        threading.Event().wait(0.01)
    instance.book.queue("heal", "manual", clock.now())
    instance.book.queue("sync", "manual", clock.now())
    drain(worker_for(instance))
    assert recorder.calls == ["dump"]
    assert run_states(instance, "sync")[0][2] == "skipped"
    assert run_states(instance, "heal")[0][2] == "queued"
    recorder.release.set()
    holder.join()
    drain(worker_for(instance))
    assert recorder.calls == ["dump", "heal"]


def test_runs_on_tags_decide_which_worker_runs_a_task(open_instance, clock, recorder):
    instance = open_instance("tasks:\n  - {name: import, type: test_note, runs_on: [sftp]}\n")
    instance.book.queue("import", "manual", clock.now())
    assert worker_for(instance).run_once() is None
    assert worker_for(instance, tags=["sftp", "hdfs"]).run_once() is not None


def test_run_of_a_dead_worker_is_abandoned_then_retried(open_instance, clock, recorder):
    instance = open_instance("tasks:\n  - {name: t, type: test_note}\n")
    run = instance.book.queue("t", "manual", clock.now())
    claimed = instance.book.claim(["t"], "dead-worker", clock.now(), timedelta(seconds=30))
    assert claimed is not None and claimed.id == run.id
    clock.advance(timedelta(seconds=31))
    Scheduler(instance.config, instance.book, clock).tick()
    drain(worker_for(instance))
    assert run_states(instance) == [("t", "manual", "succeeded", 2)]
    with instance.engine.connect() as connection:
        moves = (
            connection.execute(
                sa.text("SELECT to_state FROM run_events WHERE run_id = :id ORDER BY id"),
                {"id": run.id},
            )
            .scalars()
            .all()
        )
    assert moves[:4] == ["queued", "running", "abandoned", "queued"]


def test_a_renewed_lease_keeps_the_run(open_instance, clock):
    instance = open_instance("tasks:\n  - {name: t, type: test_wait}\n")
    instance.book.queue("t", "manual", clock.now())
    worker = worker_for(instance)
    holder = threading.Thread(target=worker.run_once)
    holder.start()
    for _ in range(5):
        while not worker._held:
            threading.Event().wait(0.01)
        clock.advance(timedelta(seconds=20))
        worker.heartbeat()
        assert instance.book.reap(clock.now()) == []
    with instance.engine.connect() as connection:
        state = connection.execute(sa.select(runs.c.state)).scalar_one()
    assert state == "running"
    instance.book.cancel(1, clock.now())
    worker.heartbeat()
    holder.join()
    assert run_states(instance) == [("t", "manual", "cancelled", 1)]


def test_cancel_of_a_queued_run_is_immediate(open_instance, clock):
    instance = open_instance("tasks:\n  - {name: t, type: test_note}\n")
    run = instance.book.queue("t", "manual", clock.now())
    assert instance.book.cancel(run.id, clock.now()).state == "cancelled"
    with pytest.raises(RunRefused, match="already cancelled"):
        instance.book.cancel(run.id, clock.now())
