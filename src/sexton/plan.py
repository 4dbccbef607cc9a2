"""``sexton plan``: what the deleting and copying duties would do now, changing nothing.

Each task type lists its own candidates (``Task.plan``) with the code its runs use; this
module only gives them a read-only view: the database opened read-only, stores opened to
list and stat. A plan is for "now", so a run started next acts on the same files unless
the catalog or the stores change in between.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Engine

from .catalog import Catalog, OpenStores, UnknownStore
from .clock import Clock
from .config import Config, TaskSpec
from .stores import Store, StoreError
from .tasks.base import Task, TaskFailed
from .tasks.planning import PlannedAction
from .tasks.registry import task_class


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """One action with the task it belongs to."""

    task: str
    type: str
    action: PlannedAction

    def to_json(self) -> dict[str, Any]:
        return self.action.to_json(self.task, self.type)


class ReadOnlyContext:
    """Implements ``sexton.tasks.planning.PlanContext`` over a read-only engine."""

    def __init__(self, spec: TaskSpec, config: Config, engine: Engine, clock: Clock) -> None:
        self.task_name = spec.name
        self.params = spec.params
        self.config = config
        self.engine = engine
        self.clock = clock
        self._now = clock.now()  # one moment for the whole plan

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.engine, self.clock, self.config.settings.checksum)

    @cached_property
    def stores(self) -> Mapping[str, Store]:
        return OpenStores(self.config.settings.stores)

    def now(self) -> datetime:
        return self._now


def planning_tasks(config: Config, names: Sequence[str]) -> list[TaskSpec]:
    """The tasks to plan: those named (``KeyError`` for an unknown one, ``ValueError`` for one
    whose type deletes and copies nothing), else every enabled task whose type plans."""
    if names:
        specs = [config.task(name) for name in names]
        for spec in specs:
            if not _plans(spec):
                raise ValueError(
                    f"task {spec.name!r} is a {spec.type} task, which deletes and copies "
                    "nothing: there is nothing to plan"
                )
        return specs
    return [s for s in config.tasks.values() if s.settings.enabled and _plans(s)]


def plan(
    config: Config, engine: Engine, clock: Clock, specs: Sequence[TaskSpec]
) -> list[PlannedStep]:
    """What runs of ``specs`` started now would delete or copy, in task order."""
    steps: list[PlannedStep] = []
    for spec in specs:
        task = _task(spec)
        context = ReadOnlyContext(spec, config, engine, clock)
        try:
            steps += [PlannedStep(spec.name, spec.type, a) for a in task.plan(context)]
        except (TaskFailed, UnknownStore, StoreError) as exc:  # a store out of reach
            raise PlanFailed(f"cannot plan {spec.name}: {exc}") from None
    return steps


class PlanFailed(Exception):
    """A task's plan could not be made (a store it lists is out of reach)."""


def _task(spec: TaskSpec) -> Task:
    cls = task_class(spec.type)
    assert cls is not None  # the config loader refused unknown types
    return cls()


def _plans(spec: TaskSpec) -> bool:
    cls = task_class(spec.type)
    return cls is not None and cls.plans
