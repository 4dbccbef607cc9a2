"""What the backup task types need of the run context beyond the common protocol."""

from __future__ import annotations

from typing import Protocol, cast

from sqlalchemy import Engine

from ..tasks.base import RunContext
from ..tasks.planning import PlanContext
from .records import BackupBook


class RecordingContext(RunContext, Protocol):
    engine: Engine  # the run's database, where backups are recorded


def backup_book(ctx: RunContext | PlanContext) -> BackupBook:
    """The backup record in the run's database (the engine's context carries it)."""
    return BackupBook(cast(RecordingContext, ctx).engine)
