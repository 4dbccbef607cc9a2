"""When a task is due: epoch-anchored ``every`` slots and cron patterns in a time zone.

Every host computes the same slots from the same config, which is what lets any number of
schedulers insert the same ``(task, slot)`` row and have the database keep exactly one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from croniter import croniter

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # every `every` schedule counts its slots from here
# The widest wall-clock jump of any time zone's DST change; candidates this close to a change
# are examined together so a repeated or skipped hour is handled once and in order.
DST_WINDOW = timedelta(hours=3)


class Schedule(Protocol):
    def next_after(self, moment: datetime) -> datetime:
        """The first slot strictly after ``moment``."""

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The newest slot at or before ``moment``."""

    def period_near(self, moment: datetime) -> timedelta:
        """The gap between the two slots that follow ``moment`` (for default grace times)."""


@dataclass(frozen=True)
class Every:
    """Slots at ``EPOCH + k * period``: the same on every host, whenever it started."""

    period: timedelta

    def _index(self, moment: datetime) -> int:
        return (moment - EPOCH) // self.period

    def next_after(self, moment: datetime) -> datetime:
        return EPOCH + (self._index(moment) + 1) * self.period

    def latest_at_or_before(self, moment: datetime) -> datetime:
        return EPOCH + self._index(moment) * self.period

    def period_near(self, moment: datetime) -> timedelta:
        return self.period


@dataclass(frozen=True)
class Cron:
    """A cron pattern (5 fields, or 6 with seconds first) read as wall-clock time in ``zone``.

    DST: a wall time that does not exist (spring gap) runs at the moment the clocks change;
    a wall time that happens twice (autumn repeat) runs once, at its first occurrence —
    unless the pattern runs every hour (hour field ``*``), in which case it keeps its rhythm
    through both passes of the repeated hour.
    """

    expression: str
    zone: ZoneInfo

    @property
    def with_seconds(self) -> bool:
        return len(self.expression.split()) == 6

    @property
    def every_hour(self) -> bool:
        fields = self.expression.split()
        return fields[2 if self.with_seconds else 1] == "*"

    @staticmethod
    def check(expression: str) -> str | None:
        """Why ``expression`` is not a usable pattern, or None when it is."""
        count = len(expression.split())
        if count not in (5, 6):
            return f"a cron pattern has 5 fields (or 6 with seconds first), not {count}"
        if not croniter.is_valid(expression, second_at_beginning=count == 6):
            return f"{expression!r} is not a valid cron pattern"
        return None

    def _iterator(self, start_local: datetime, backwards: bool = False) -> croniter:
        return croniter(
            self.expression,
            start_local,
            is_prev=backwards,
            second_at_beginning=self.with_seconds,
        )

    def _instants(self, wall: datetime) -> list[datetime]:
        """The UTC instants at which the naive local time ``wall`` is due (0-2 of them)."""
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        if first.astimezone(self.zone).replace(tzinfo=None) != wall:
            return [self._transition_between(min(first, second), max(first, second))]
        if first != second and self.every_hour:
            return [first, second]
        return [first]

    def _transition_between(self, before: datetime, after: datetime) -> datetime:
        """The instant the UTC offset changes in ``(before, after]``, to the second."""
        offset = before.astimezone(self.zone).utcoffset()
        while after - before > timedelta(seconds=1):
            middle = before + (after - before) / 2
            if middle.astimezone(self.zone).utcoffset() == offset:
                before = middle
            else:
                after = middle
        return after.replace(microsecond=0)

    def _near_transition(self, moment: datetime) -> bool:
        return (moment - DST_WINDOW).astimezone(self.zone).utcoffset() != (
            moment + DST_WINDOW
        ).astimezone(self.zone).utcoffset()

    def next_after(self, moment: datetime) -> datetime:
        local = moment.astimezone(self.zone).replace(tzinfo=None)
        if not self._near_transition(moment):
            wall = self._iterator(local).get_next(datetime)
            return self._instants(wall)[0]
        iterator = self._iterator(local - DST_WINDOW)
        best: datetime | None = None
        while True:
            wall = iterator.get_next(datetime)
            for instant in self._instants(wall):
                if instant > moment and (best is None or instant < best):
                    best = instant
            if best is not None and wall > local + DST_WINDOW:
                return best

    def latest_at_or_before(self, moment: datetime) -> datetime:
        local = moment.astimezone(self.zone).replace(tzinfo=None)
        if not self._near_transition(moment):
            # croniter looks strictly before its start, so start one step past ``local``.
            if self.with_seconds:
                start = local.replace(microsecond=0) + timedelta(seconds=1)
            else:
                start = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
            wall = self._iterator(start, backwards=True).get_prev(datetime)
            return self._instants(wall)[-1]
        iterator = self._iterator(local + DST_WINDOW, backwards=True)
        best: datetime | None = None
        while True:
            wall = iterator.get_prev(datetime)
            for instant in self._instants(wall):
                if instant <= moment and (best is None or instant > best):
                    best = instant
            if best is not None and wall < local - DST_WINDOW:
                return best

    def period_near(self, moment: datetime) -> timedelta:
        first = self.next_after(moment)
        return self.next_after(first) - first
