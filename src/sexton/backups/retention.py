"""Which backups a retention policy lets go.

A backup is kept when any rule keeps it (as restic and borg do): younger than ``max_age``,
among the ``keep_last`` newest verified ones, or the newest verified one of one of the
``keep_monthly`` latest months. Whatever the rules say, the newest verified backup and any
backup marked ``keep`` stay, and nothing goes while the newest backup is unverified: a
failing backup job must never also eat the last good backups.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import Field, model_validator

from ..config.models import Duration
from ..tasks.base import TaskParams
from .records import BackupRecord


class RetentionPolicy(TaskParams):
    max_age: Duration | None = None
    keep_last: int | None = Field(None, ge=1)
    keep_monthly: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _some_rule(self) -> RetentionPolicy:
        if self.max_age is None and self.keep_last is None and self.keep_monthly is None:
            raise ValueError("retention needs at least one of max_age, keep_last, keep_monthly")
        return self


def expired(
    backups: Sequence[BackupRecord], policy: RetentionPolicy, now: datetime
) -> list[BackupRecord]:
    """The backups to delete, oldest first; ``backups`` are one task's live backups."""
    newest_first = sorted(backups, key=lambda b: (b.created_at, b.id), reverse=True)
    if not newest_first or newest_first[0].verify_ok is not True:
        return []
    verified = [b for b in newest_first if b.verify_ok]
    kept = {verified[0].id} | {b.id for b in newest_first if b.keep}
    if policy.keep_last is not None:
        kept |= {b.id for b in verified[: policy.keep_last]}
    if policy.keep_monthly is not None:
        kept |= _monthly(verified, policy.keep_monthly)
    if policy.max_age is not None:
        kept |= _younger_than(newest_first, now - policy.max_age)
    return [b for b in reversed(newest_first) if b.id not in kept]


def _monthly(verified_newest_first: Sequence[BackupRecord], months: int) -> set[int]:
    """The newest verified backup of each of the ``months`` latest months that have one."""
    chosen: dict[tuple[int, int], int] = {}
    for backup in verified_newest_first:
        month = (backup.created_at.year, backup.created_at.month)  # UTC: stored as UTC
        if month not in chosen:
            if len(chosen) == months:
                break
            chosen[month] = backup.id
    return set(chosen.values())


def _younger_than(backups: Sequence[BackupRecord], cutoff: datetime) -> set[int]:
    return {b.id for b in backups if b.created_at > cutoff}
