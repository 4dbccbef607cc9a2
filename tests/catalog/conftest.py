"""Catalog fixtures: an instance with a local store, files written into it, the worker.

The S3 (moto) and SFTP (asyncssh) servers are the store tests' fixtures, reused here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from sexton.catalog import Catalog
from sexton.engine.service import Instance
from sexton.engine.worker import Worker
from stores.conftest import sftp_server  # noqa: F401  (fixture used here)
from support import START

OLD = START.timestamp() - 86_400  # an mtime a day before the fake clock's now


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    root.mkdir()
    return root


def put(root: Path, name: str, data: bytes = b"x", mtime: float = OLD) -> Path:
    """Write a file into a store directory with a given mtime (old enough to be scanned)."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def archive(open_instance: Callable[..., Instance], store_dir: Path) -> Callable[[str], Instance]:
    """An instance whose config has store `store` at ``store_dir`` plus the given tasks."""

    def make(tasks: str = "") -> Instance:
        store = f"stores:\n  store: {{url: '{store_dir.as_uri()}'}}\n"
        return open_instance(f"{store}tasks:\n{tasks or '  []'}\n")

    return make


def catalog_of(instance: Instance) -> Catalog:
    return Catalog(instance.engine, instance.clock, instance.config.settings.checksum)


def run_task(instance: Instance, task: str) -> str:
    """Queue a run of ``task``, let a worker run it, and return how it ended."""
    instance.book.queue(task, "manual", instance.clock.now())
    run = Worker(instance.config, instance.book, instance.clock).run_once()
    assert run is not None
    return f"{run.state}: {run.error}" if run.error else run.state
