"""Task types, discovered through the ``sexton.tasks`` entry-point group."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from .base import Task

GROUP = "sexton.tasks"
_registered: dict[str, type[Task]] = {}


@cache
def _discovered() -> dict[str, type[Task]]:
    found: dict[str, type[Task]] = {}
    for entry in entry_points(group=GROUP):
        task_class = entry.load()
        found[task_class.type] = task_class
    return found


def register(task_class: type[Task]) -> type[Task]:
    """Add a task type at run time (tests, benchmarks, embedding applications)."""
    _registered[task_class.type] = task_class
    return task_class


def task_types() -> dict[str, type[Task]]:
    return {**_discovered(), **_registered}


def task_class(type_name: str) -> type[Task] | None:
    return task_types().get(type_name)


# The config loader lists known types for its "did you mean" hints.
task_class.known_types = lambda: sorted(task_types())  # type: ignore[attr-defined]
