"""Data-care fixtures: an instance with a main store and further stores (clone drives,
copies elsewhere), files put into them, and ways to look at copies and run records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from catalog.catalog_support import catalog_of, put, run_task
from sexton.catalog import Catalog, InstanceRecord
from sexton.db.tables import run_events, runs
from sexton.engine.monitor import Monitor
from sexton.engine.service import Instance

# Every site scans its stores with checksums, so copies start out verified.
SCANS = "  - {{name: scan-{store}, type: scan, store: {store}, checksum_new: true}}\n"


@dataclass
class Site:
    instance: Instance
    root: Path

    @property
    def catalog(self) -> Catalog:
        return catalog_of(self.instance)

    def dir(self, store: str = "store") -> Path:
        return self.root / store

    def put(self, name: str, data: bytes, store: str = "store") -> Path:
        return put(self.dir(store), name, data)

    def run(self, task: str) -> str:
        return run_task(self.instance, task)

    def scan(self, store: str = "store") -> None:
        assert self.run(f"scan-{store}") == "succeeded"

    def copies(self, name: str) -> dict[str, InstanceRecord]:
        return {i.store: i for i in self.catalog.show(name).instances}

    def events(self, task: str) -> list[str]:
        query = (
            sa.select(run_events.c.message)
            .where(run_events.c.task == task, run_events.c.message.is_not(None))
            .order_by(run_events.c.id)
        )
        with self.instance.engine.connect() as connection:
            return list(connection.execute(query).scalars())

    def last_run(self, task: str) -> tuple[int, int]:
        """(items, bytes) counted on the task's newest run."""
        query = (
            sa.select(runs.c["items"], runs.c.bytes)
            .where(runs.c.task == task)
            .order_by(runs.c.id.desc())
            .limit(1)
        )
        with self.instance.engine.connect() as connection:
            items, nbytes = connection.execute(query).one()
        return items, nbytes

    def status(self, task: str) -> str:
        monitor = Monitor(self.instance.config, self.instance.engine)
        (found,) = monitor.statuses(self.instance.clock.now(), [task])
        return found.status


@pytest.fixture
def site(open_instance: Callable[..., Instance], tmp_path: Path) -> Callable[..., Site]:
    """``site(tasks, drive1="capacity: 450")``: store ``store`` plus the named stores, each a
    directory under tmp_path with the given extra settings, each with a checksumming scan."""

    def make(tasks: str = "", **stores: str) -> Site:
        names = ["store", *stores]
        lines = ["stores:"]
        for name in names:
            (tmp_path / name).mkdir(exist_ok=True)
            extra = f", {stores[name]}" if stores.get(name) else ""
            lines.append(f"  {name}: {{url: '{(tmp_path / name).as_uri()}'{extra}}}")
        scans = "".join(SCANS.format(store=name) for name in names)
        body = "\n".join(lines) + f"\ntasks:\n{scans}{tasks}"
        return Site(open_instance(body), tmp_path)

    return make
