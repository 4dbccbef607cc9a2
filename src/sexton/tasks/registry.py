"""Task types, discovered through the ``sexton.tasks`` entry-point group.

An entry point's name is its task type. Only the types a config uses are imported: every
command starts by reading the config, and importing every type (backups, transfers, drains
and what they import) would be paid by each `sexton status`.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points

from .base import Task

GROUP = "sexton.tasks"
_registered: dict[str, type[Task]] = {}


@cache
def _entry_points() -> dict[str, EntryPoint]:
    return {entry.name: entry for entry in entry_points(group=GROUP)}


@cache
def _load(name: str) -> type[Task]:
    task_class: type[Task] = _entry_points()[name].load()
    if task_class.type != name:
        raise RuntimeError(
            f"entry point {name!r} of {GROUP!r} loads task type {task_class.type!r}: "
            "an entry point must be named after its task type"
        )
    return task_class


def register(task_class: type[Task]) -> type[Task]:
    """Add a task type at run time (tests, benchmarks, embedding applications)."""
    _registered[task_class.type] = task_class
    return task_class


def known_types() -> list[str]:
    return sorted({*_entry_points(), *_registered})


def task_class(type_name: str) -> type[Task] | None:
    if type_name in _registered:
        return _registered[type_name]
    if type_name in _entry_points():
        return _load(type_name)
    return None


# The config loader lists known types for its "did you mean" hints.
task_class.known_types = known_types  # type: ignore[attr-defined]
