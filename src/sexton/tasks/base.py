"""What a task type is: a parameter model and one method that does the work through a context."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ..catalog import Catalog
    from ..stores import Store
    from .planning import PlanContext, PlannedAction


class TaskParams(BaseModel):
    """Parameters of one task type; unknown keys are config errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskFailed(Exception):
    """The task did its work and it failed; the message goes on the run."""


class TaskTimedOut(TaskFailed):
    """The hard timeout ended the task."""


class TaskInterrupted(Exception):
    """The task stopped early because it was asked to (``should_stop()``) and its work is
    incomplete: the engine decides whether that is a cancel, a timeout or a hand-back."""


class NeedsAttention(TaskFailed):
    """A failure a person must look at (damage found, drain ERROR): sticky until cleared."""


class RunContext(Protocol):
    """What a running task may use; the engine provides it."""

    run_id: int
    task_name: str
    params: Any
    env: Mapping[str, str]
    log: logging.Logger
    kill_grace: float  # seconds between SIGTERM and SIGKILL when ending a process
    exit_code: int | None  # a command's exit status, recorded on the run

    @property
    def catalog(self) -> Catalog:
        """Files, their copies and marks, in the run's database."""

    @property
    def stores(self) -> Mapping[str, Store]:
        """The configured stores by name, each connected on first use."""

    def should_stop(self) -> bool:
        """True once the soft timeout passed, the run was cancelled or the service stops."""

    def hard_deadline(self) -> datetime | None:
        """When the run must be over, or None without a hard timeout."""

    def now(self) -> datetime:
        """The engine's clock."""

    def progress(self, items: int = 0, bytes: int = 0, total: int | None = None) -> None:
        """Count work done; the counts land on the run row."""

    def event(self, message: str, **data: Any) -> None:
        """Record something worth seeing later in the run's history."""

    def output(self, text: str) -> None:
        """Keep text (a command's output) in the run's log tail."""


@dataclass(frozen=True)
class ShardBounds:
    """Which items of a run one shard covers (``fan_out``): those with an id in
    ``(after_id, upto_id]`` (None: unbounded on that side; instance ids, or file ids for
    ``replicate``), or the paths under ``prefix``."""

    after_id: int | None = None
    upto_id: int | None = None
    prefix: str | None = None


class Task:
    """Base of every task type. Built-ins register through ``sexton.tasks`` entry points too."""

    Params: ClassVar[type[TaskParams]] = TaskParams
    type: ClassVar[str]
    # Where runs of this type happen unless a task says otherwise (DESIGN §2, executor).
    executor: ClassVar[str] = "local"

    def run(self, ctx: RunContext) -> None:
        raise NotImplementedError

    @classmethod
    def cleared(cls, connection: Connection, params: Any) -> None:
        """What else a person's ``sexton clear`` of a task of this type settles, in the same
        transaction as its sticky error; nothing by default."""

    # Whether ``plan`` says what a run would delete or copy (``sexton plan`` lists these).
    plans: ClassVar[bool] = False

    def plan(self, ctx: PlanContext) -> Iterable[PlannedAction]:
        """The files a run now would delete or copy, found by the same code ``run`` uses,
        changing nothing. Task types that delete or copy override it and set ``plans``."""
        return ()

    # -- fan_out: a run split into shards that many workers claim ----------------------------

    # Whether this type implements ``plan_shards`` and ``run_shard`` (``fan_out`` is refused
    # by ``sexton validate`` otherwise).
    splits: ClassVar[bool] = False

    def plan_shards(self, ctx: RunContext, size: int, since: datetime) -> Iterable[ShardBounds]:
        """The shards of a run, each of about ``size`` items; ``since`` is when the run was
        queued (work recorded since then is this run's)."""
        raise NotImplementedError

    def run_shard(self, ctx: RunContext, shard: ShardBounds, since: datetime) -> None:
        """Do the items of one shard not yet done since ``since``: a shard claimed again after
        its worker died redoes only what was not recorded."""
        raise NotImplementedError
