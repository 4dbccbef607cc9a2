"""The librarian's background-task JSON: top-level keys are task types, each a list of
settings with ``task_name``. Recognised and read as Sexton tasks, unchanged."""

from __future__ import annotations

from typing import Any

from .source import Document

# The librarian itself accepts this misspelling, so its files contain it.
TYPE_ALIASES = {"recieve_clone": "receive_clone"}


def is_librarian_format(value: Any) -> bool:
    """True for ``{"check_integrity": [{"task_name": ...}], ...}``-shaped content."""
    return (
        isinstance(value, dict)
        and bool(value)
        and all(
            isinstance(items, list)
            and all(isinstance(item, dict) and "task_name" in item for item in items)
            for items in value.values()
        )
    )


def librarian_tasks(document: Document) -> list[tuple[dict[str, Any], tuple[str | int, ...]]]:
    """Each task as Sexton settings, with the path it has in the file (for messages)."""
    tasks: list[tuple[dict[str, Any], tuple[str | int, ...]]] = []
    for task_type, items in document.value.items():
        for index, item in enumerate(items):
            settings = {"name" if key == "task_name" else key: v for key, v in item.items()}
            settings["type"] = TYPE_ALIASES.get(task_type, task_type)
            tasks.append((settings, (task_type, index)))
    return tasks
