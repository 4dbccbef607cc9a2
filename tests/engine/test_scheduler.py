"""The scheduler: slots, catch-up, at_start, and exactly one run per slot."""

from __future__ import annotations

from datetime import timedelta

from sexton.engine.scheduler import Scheduler
from sexton.engine.worker import Worker
from support import START, run_states


def scheduler_for(instance):
    return Scheduler(instance.config, instance.book, instance.clock)


def test_a_month_of_schedule_runs_every_slot_exactly_once_without_waiting(
    open_instance, clock, recorder
):
    instance = open_instance(
        "tasks:\n"
        "  - {name: six-hourly, type: test_note, every: 6h}\n"
        "  - {name: nightly, type: test_note, cron: '0 2 * * *'}\n"
        "  - {name: weekly, type: test_note, cron: '0 0 0 * * 1'}\n"
    )
    scheduler = scheduler_for(instance)
    worker = Worker(instance.config, instance.book, clock)
    scheduler.start()
    for _ in range(30 * 8):  # a tick every three hours for 30 days
        clock.advance(timedelta(hours=3))
        scheduler.tick()
        while worker.run_once():
            pass
    assert recorder.calls.count("six-hourly") == 30 * 4
    assert recorder.calls.count("nightly") == 30
    assert recorder.calls.count("weekly") == 4  # Mondays after the start (a Monday 00:00)
    assert {state for _, _, state, _ in run_states(instance)} == {"succeeded"}


def test_second_scheduler_never_duplicates_a_slot(open_instance, clock):
    instance = open_instance("tasks:\n  - {name: often, type: test_note, every: 10m}\n")
    first, second = scheduler_for(instance), scheduler_for(instance)
    first.start()
    second.start()
    for _ in range(12):
        clock.advance(timedelta(minutes=10))
        first.tick()
        second.tick()
        second.tick()
    slots = [state for state in run_states(instance, "often") if state[1] == "schedule"]
    assert len(slots) == 12


def test_catch_up_latest_runs_once_for_all_missed_slots(open_instance, clock, recorder):
    instance = open_instance("tasks:\n  - {name: t, type: test_note, every: 1h}\n")
    scheduler = scheduler_for(instance)
    scheduler.start()
    clock.advance(timedelta(hours=10, minutes=5))  # the service was down for ten slots
    scheduler.tick()
    assert [s[1:3] for s in run_states(instance)] == [("schedule", "queued")]


def test_catch_up_all_runs_every_missed_slot(open_instance, clock):
    instance = open_instance("tasks:\n  - {name: t, type: test_note, every: 1h, catch_up: all}\n")
    scheduler = scheduler_for(instance)
    scheduler.start()
    clock.advance(timedelta(hours=10, minutes=5))
    scheduler.tick()
    assert len(run_states(instance)) == 10


def test_catch_up_none_skips_missed_slots_but_runs_on_time_ones(open_instance, clock):
    instance = open_instance("tasks:\n  - {name: t, type: test_note, every: 1h, catch_up: none}\n")
    scheduler = scheduler_for(instance)
    scheduler.start()
    clock.advance(timedelta(hours=10, minutes=5))
    scheduler.tick()
    assert run_states(instance) == []
    clock.advance(timedelta(minutes=55, seconds=10))  # the next slot, seen on time
    scheduler.tick()
    assert len(run_states(instance)) == 1


def test_a_late_slot_run_is_superseded_by_the_next_one(open_instance, clock):
    instance = open_instance("tasks:\n  - {name: t, type: test_note, every: 1h}\n")
    scheduler = scheduler_for(instance)
    scheduler.start()
    for _ in range(3):  # no worker: runs pile up, but only one stays waiting
        clock.advance(timedelta(hours=1))
        scheduler.tick()
    assert [s[2] for s in run_states(instance)] == ["skipped", "skipped", "queued"]


def test_at_start_queues_one_initial_run(open_instance, clock):
    instance = open_instance(
        "tasks:\n  - {name: sync, type: test_note, cron: '0 0 0 * * *', at_start: true}\n"
    )
    scheduler_for(instance).start()
    scheduler_for(instance).start()  # a second service start while the first is queued
    assert run_states(instance) == [("sync", "start", "queued", 1)]


def test_at_start_queues_an_on_demand_task_too(open_instance, clock):
    instance = open_instance("tasks:\n  - {name: sync, type: test_note, at_start: true}\n")
    scheduler_for(instance).start()
    assert run_states(instance) == [("sync", "start", "queued", 1)]


def test_disabled_task_gets_no_runs(open_instance, clock):
    instance = open_instance(
        "tasks:\n"
        "  - {name: heal, type: test_note, every: 1m, enabled: '${ENABLE_HEALING:-false}'}\n"
    )
    scheduler = scheduler_for(instance)
    scheduler.start()
    clock.advance(timedelta(minutes=5))
    scheduler.tick()
    assert run_states(instance) == []


def test_history_older_than_keep_is_pruned(open_instance, clock):
    instance = open_instance(
        "history: {keep: 2d}\ntasks:\n  - {name: t, type: test_note, every: 1d}\n"
    )
    scheduler = scheduler_for(instance)
    worker = Worker(instance.config, instance.book, clock)
    scheduler.start()
    for _ in range(5):
        clock.advance(timedelta(days=1, hours=1))
        scheduler._last_prune = None
        scheduler.tick()
        worker.run_once()
    assert 1 <= len(run_states(instance)) <= 3
    assert clock.now() - START > timedelta(days=5)
