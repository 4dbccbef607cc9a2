"""The dead man's switch: status derived from stored times, flips recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from sexton.db.tables import status_changes
from sexton.engine.monitor import Monitor
from sexton.engine.runbook import Outcome, RunRefused
from sexton.engine.scheduler import Scheduler
from sexton.engine.worker import Worker
from support import run_states


def status_of(instance, task):
    (found,) = Monitor(instance.config, instance.engine).statuses(instance.clock.now(), [task])
    return found


def test_status_flips_up_late_down_up_and_each_flip_is_recorded(open_instance, clock):
    instance = open_instance(
        "tasks:\n  - {name: export, type: heartbeat, every: 1h, alert: {grace: 15m}}\n"
    )
    scheduler = Scheduler(instance.config, instance.book, clock)
    scheduler.start()
    assert status_of(instance, "export").status == "new"
    instance.book.ping("export", "success", clock.now(), None)
    scheduler.tick()
    assert status_of(instance, "export").status == "up"
    clock.advance(timedelta(hours=1, minutes=5))
    scheduler.tick()
    assert status_of(instance, "export").status == "late"
    clock.advance(timedelta(minutes=15))
    scheduler.tick()
    late = status_of(instance, "export")
    assert late.status == "down"
    assert late.overdue_seconds == 20 * 60
    instance.book.ping("export", "start", clock.now(), None)
    assert status_of(instance, "export").status == "running"
    instance.book.ping("export", "success", clock.now(), 0)
    scheduler.tick()
    assert status_of(instance, "export").status == "up"
    with instance.engine.connect() as connection:
        flips = connection.execute(
            sa.select(status_changes.c.from_status, status_changes.c.to_status).order_by(
                status_changes.c.id
            )
        ).all()
    assert [tuple(f) for f in flips] == [
        ("new", "up"),
        ("up", "late"),
        ("late", "down"),
        ("down", "up"),
    ]


def test_a_task_that_never_succeeded_is_never_up(open_instance, clock, recorder):
    instance = open_instance("tasks:\n  - {name: t, type: test_note, fail_times: 99}\n")
    instance.book.queue("t", "manual", clock.now())
    Worker(instance.config, instance.book, clock).run_once()
    assert status_of(instance, "t").status == "down"
    instance.book.clear("t")
    assert status_of(instance, "t").status == "new"


def test_down_after_the_configured_number_of_failures(open_instance, clock, recorder):
    instance = open_instance(
        "tasks:\n  - {name: t, type: test_note, fail_times: 2, alert: {after_failures: 2}}\n"
    )
    worker = Worker(instance.config, instance.book, clock)
    instance.book.queue("t", "manual", clock.now())
    worker.run_once()
    instance.book.queue("t", "manual", clock.now())
    worker.run_once()
    instance.book.queue("t", "manual", clock.now())
    worker.run_once()
    statuses = [s.status for s in Monitor(instance.config, instance.engine).statuses(clock.now())]
    assert statuses == ["up"]


def test_default_grace_is_one_period_at_most_a_day(open_instance, clock):
    instance = open_instance(
        "tasks:\n"
        "  - {name: hourly, type: heartbeat, every: 1h}\n"
        "  - {name: weekly, type: heartbeat, cron: '0 0 * * 1'}\n"
    )
    for name in ("hourly", "weekly"):
        instance.book.ping(name, "success", clock.now(), None)
    clock.advance(timedelta(days=7, hours=12))  # weekly: due 12h ago, grace 1 day
    statuses = {
        s.task: s.status for s in Monitor(instance.config, instance.engine).statuses(clock.now())
    }
    assert statuses == {"hourly": "down", "weekly": "late"}


def test_manual_duty_is_late_until_someone_records_it_done(open_instance, clock):
    instance = open_instance(
        "tasks:\n  - {name: usage-review, type: manual, cron: '0 9 1 * *', alert: {grace: 7d}}\n"
    )
    clock.advance(timedelta(days=30))  # past the first of the month
    assert status_of(instance, "usage-review").status == "late"
    run = instance.book.record_done("usage-review", "checked quotas", clock.now())
    assert (run.state, run.note) == ("succeeded", "checked quotas")
    assert status_of(instance, "usage-review").status == "up"


def test_disabled_task_is_paused_with_nothing_due_and_refuses_runs(open_instance, clock):
    instance = open_instance("tasks:\n  - {name: t, type: test_note, every: 1h, enabled: false}\n")
    status = status_of(instance, "t")
    assert (status.status, status.next_due) == ("paused", None)
    for attempt in (
        lambda: instance.book.queue("t", "manual", clock.now()),
        lambda: instance.book.start_now("t", "w", clock.now(), timedelta(seconds=30)),
    ):
        with pytest.raises(RunRefused, match="t is disabled"):
            attempt()
    assert run_states(instance) == []


def test_sticky_error_keeps_a_task_down_until_cleared(open_instance, clock):
    instance = open_instance("tasks:\n  - {name: t, type: test_note}\n")
    instance.book.queue("t", "manual", clock.now())
    claimed = instance.book.claim(["t"], "w", clock.now(), timedelta(seconds=30))
    instance.book.finish(claimed, Outcome("failed", "checksum mismatch", sticky=True), clock.now())
    instance.book.queue("t", "manual", clock.now())
    Worker(instance.config, instance.book, clock).run_once()  # a later success...
    assert status_of(instance, "t").status == "down"  # ...does not hide the damage
    assert status_of(instance, "t").error == "checksum mismatch"
    instance.book.clear("t")
    assert status_of(instance, "t").status == "up"
