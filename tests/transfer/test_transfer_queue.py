"""The transfer queue on both databases: each item goes to one consumer at a time, a dead
consumer's item is taken again once its lease lapses, and a failed attempt waits its backoff."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sexton.clock import FakeClock
from sexton.engine.service import Instance
from sexton.transfer.queue import DONE, TransferQueue, enqueue

LEASE = timedelta(minutes=10)


def add(instance: Instance, clock: FakeClock, *batches: str) -> None:
    """Queue batches for the destination, as send_clone does with its answers."""
    with instance.engine.begin() as connection:
        for batch in batches:
            enqueue(connection, batch, "destination", clock.now())


def test_each_item_goes_to_one_consumer_and_comes_back_when_its_lease_lapses(
    open_instance: Callable[..., Instance], clock: FakeClock
) -> None:
    instance = open_instance("tasks: []\n")
    queue = TransferQueue(instance.engine, clock)
    add(instance, clock, "b1", "b2")

    first = queue.claim(LEASE)
    second = queue.claim(LEASE)
    assert first is not None and second is not None
    assert {first.batch, second.batch} == {"b1", "b2"}
    assert queue.claim(LEASE) is None  # both held

    queue.finish(second, DONE)
    clock.advance(LEASE + timedelta(seconds=1))  # the first consumer died holding b1
    again = queue.claim(LEASE)
    assert again is not None and again.batch == first.batch and again.attempts == 2
    assert queue.claim(LEASE) is None  # b2 is done for good


def test_a_failed_attempt_waits_its_backoff_and_a_deferral_costs_no_attempt(
    open_instance: Callable[..., Instance], clock: FakeClock
) -> None:
    instance = open_instance("tasks: []\n")
    queue = TransferQueue(instance.engine, clock)
    add(instance, clock, "b1")
    item = queue.claim(LEASE)
    assert item is not None
    queue.put_back(item, clock.now() + timedelta(minutes=1), "unreachable")
    assert queue.claim(LEASE) is None
    clock.advance(timedelta(minutes=1))
    item = queue.claim(LEASE)
    assert item is not None and item.attempts == 2
    queue.put_back(item, clock.now(), "waiting: too many in flight", retry=False)
    item = queue.claim(LEASE, skip={item.id})
    assert item is None
    item = queue.claim(LEASE)
    assert item is not None and item.attempts == 2
