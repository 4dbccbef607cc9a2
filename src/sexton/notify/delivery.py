"""Delivering notifications in the background, retried with backoff.

Senders only enqueue, so a slow mail server or a dead webhook never delays a run or the
scheduler; a message that still fails after its attempts is logged and dropped.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from dataclasses import dataclass, field

from ..config.models import NotifySettings
from .channels import Channel
from .message import Notification

log = logging.getLogger(__name__)


@dataclass(order=True)
class _Pending:
    due: float
    order: int
    channel: Channel = field(compare=False)
    notification: Notification = field(compare=False)
    policy: NotifySettings = field(compare=False)
    attempt: int = field(default=1, compare=False)


class Deliverer:
    def __init__(self) -> None:
        self._queue: list[_Pending] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._deliver, name="notify", daemon=True)
        self._thread.start()

    def submit(self, channel: Channel, notification: Notification, policy: NotifySettings) -> None:
        """Queue one message for one channel; returns at once."""
        with self._wake:
            heapq.heappush(
                self._queue,
                _Pending(time.monotonic(), next(self._order), channel, notification, policy),
            )
            self._wake.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Stop after what is due now has been tried; later retries are given up (logged)."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout)
        for pending in self._queue:
            log.error(
                "notification not delivered (%s): %s",
                pending.channel.name,
                pending.notification.subject,
            )

    def _next(self) -> _Pending | None:
        with self._wake:
            while True:
                now = time.monotonic()
                if self._queue and self._queue[0].due <= now:
                    return heapq.heappop(self._queue)
                if self._stopping:
                    return None
                self._wake.wait(self._queue[0].due - now if self._queue else None)

    def _deliver(self) -> None:
        while (pending := self._next()) is not None:
            try:
                pending.channel.send(pending.notification)
            except Exception as exc:  # any failure of a receiver is retried, never raised
                self._retry(pending, exc)
            else:
                log.info("notified %s: %s", pending.channel.name, pending.notification.subject)

    def _retry(self, pending: _Pending, exc: Exception) -> None:
        policy = pending.policy
        if pending.attempt >= policy.attempts:
            log.error(
                "giving up notifying %s after %d attempts: %s (%s)",
                pending.channel.name,
                pending.attempt,
                pending.notification.subject,
                exc,
            )
            return
        delay = min(
            policy.backoff.total_seconds() * 2 ** (pending.attempt - 1),
            policy.max_backoff.total_seconds(),
        )
        log.warning(
            "notifying %s failed (%s); attempt %d in %.0fs",
            pending.channel.name,
            exc,
            pending.attempt + 1,
            delay,
        )
        with self._wake:
            pending.due = time.monotonic() + delay
            pending.attempt += 1
            heapq.heappush(self._queue, pending)
            self._wake.notify()
