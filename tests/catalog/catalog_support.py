"""Helpers for the catalog tests: files written into a store directory, a task run by a worker."""

from __future__ import annotations

import os
from pathlib import Path

from sexton.catalog import Catalog
from sexton.engine.service import Instance
from sexton.engine.worker import Worker
from support import START

OLD = START.timestamp() - 86_400  # an mtime a day before the fake clock's now


def put(root: Path, name: str, data: bytes = b"x", mtime: float = OLD) -> Path:
    """Write a file into a store directory with a given mtime (old enough to be scanned)."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def catalog_of(instance: Instance) -> Catalog:
    return Catalog(instance.engine, instance.clock, instance.config.settings.checksum)


def run_task(instance: Instance, task: str) -> str:
    """Queue a run of ``task``, let a worker run it, and return how it ended."""
    instance.book.queue(task, "manual", instance.clock.now())
    run = Worker(instance.config, instance.book, instance.clock).run_once()
    assert run is not None
    return f"{run.state}: {run.error}" if run.error else run.state
