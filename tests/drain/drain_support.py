"""Helpers shared by the drain tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from sexton.db.drain_tables import drain_files
from sexton.drain.records import DrainBook, Series
from sexton.engine.service import Instance
from sexton.engine.worker import Worker
from support import START

OLD = START.timestamp() - 86_400  # a day before the fake clock's now: past any min_age


def put(root: Path, name: str, data: bytes, mtime: float) -> Path:
    """Write a source file as the crawler would, with a chosen modification time."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def drain_config(source: Path, destination: Path, task: str = "", stores: str = "") -> str:
    """A config body with stores `crawl` and `archive` and the given task lines."""
    return (
        "stores:\n"
        f"  crawl: {{url: '{source.as_uri()}'}}\n"
        f"  archive: {{url: '{destination.as_uri()}'{stores}}}\n"
        f"tasks:\n{task}"
    )


def run_once(instance: Instance) -> str:
    """Let a worker run whatever is due; return how that run ended."""
    run = Worker(instance.config, instance.book, instance.clock).run_once()
    assert run is not None, "no run was due"
    return f"{run.state}: {run.error}" if run.error else run.state


def run_task(instance: Instance, task: str = "drain") -> str:
    instance.book.queue(task, "manual", instance.clock.now())
    return run_once(instance)


def series_of(instance: Instance, task: str = "drain") -> list[Series]:
    return DrainBook(instance.engine).series_of(task)


def file_rows(instance: Instance) -> list[dict[str, object]]:
    with instance.engine.connect() as connection:
        rows = connection.execute(select(drain_files).order_by(drain_files.c.id)).mappings()
        return [dict(row) for row in rows]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (temporary ones too) by its relative name."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }
