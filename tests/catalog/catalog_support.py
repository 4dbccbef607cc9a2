"""Helpers for the catalog tests: files written into a store directory, a task run by a worker."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from sexton.catalog import STATES, Catalog, OpenStores
from sexton.catalog.totals import Held, read_totals
from sexton.db.catalog_tables import file_copies, files, instances, remote_instances
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


def recounted(engine: Engine) -> dict[str, Any]:
    """The catalog's totals aggregated from scratch, as `catalog stats` did before they were
    maintained: files and bytes, and per (store, state) the copies and their bytes."""
    size = sa.func.coalesce(instances.c.size_seen, files.c.size)
    with engine.connect() as connection:
        count, nbytes = connection.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(files.c.size), 0))
        ).one()
        held = connection.execute(
            sa.select(instances.c.store, instances.c.state, sa.func.count(), sa.func.sum(size))
            .join_from(instances, files, instances.c.file_id == files.c.id)
            .group_by(instances.c.store, instances.c.state)
        ).all()
    return {
        "files": count,
        "bytes": nbytes,
        "held": {(store, state): Held(n, int(b)) for store, state, n, b in held},
    }


def assert_totals_exact(instance: Instance) -> None:
    """The maintained totals, and `catalog stats` made of them, equal a recount."""
    expected = recounted(instance.engine)
    with instance.engine.connect() as connection:
        totals = read_totals(connection)
    assert (totals.files, totals.bytes, totals.copies) == (
        expected["files"],
        expected["bytes"],
        expected["held"],
    )
    stats = catalog_of(instance).stats(OpenStores(instance.config.settings.stores)).to_json()
    by_state = {state: 0 for state in STATES}
    for (_store, state), held in expected["held"].items():
        by_state[state] += held.copies
    assert (stats["files"], stats["bytes"], stats["instances"]) == (
        expected["files"],
        expected["bytes"],
        by_state,
    )
    present = {s: h for (s, state), h in expected["held"].items() if state == "present"}
    shown = {name: Held(s["files"], s["bytes"]) for name, s in stats["stores"].items()}
    assert {name: h for name, h in shown.items() if h.copies} == present


def recounted_copies(engine: Engine) -> dict[int, tuple[int, int]]:
    """Per hashed file, its verified copies and sites counted from the rows: present local
    copies verified with the file's checksum, and remote copies confirmed with it."""
    with engine.connect() as connection:
        checksums = dict(connection.execute(sa.select(files.c.id, files.c.checksum)).all())
        local = connection.execute(
            sa.select(instances.c.file_id, instances.c.state, instances.c.verified_checksum)
        ).all()
        remote = connection.execute(
            sa.select(
                remote_instances.c.file_id, remote_instances.c.site, remote_instances.c.checksum
            )
        ).all()
    counted: dict[int, tuple[int, int]] = {}
    for file_id, checksum in checksums.items():
        if checksum is None:
            continue
        mine = sum(
            1 for f, state, c in local if f == file_id and state == "present" and c == checksum
        )
        theirs = [site for f, site, c in remote if f == file_id and c == checksum]
        counted[file_id] = (mine + len(theirs), (1 if mine else 0) + len(set(theirs)))
    return counted


def assert_copies_exact(instance: Instance) -> dict[int, tuple[int, int]]:
    """The maintained verified copies and sites of each file equal a recount; returns them."""
    with instance.engine.connect() as connection:
        kept = connection.execute(
            sa.select(file_copies.c.file_id, file_copies.c.copies, file_copies.c.sites)
        ).all()
    maintained = {file_id: (copies, sites) for file_id, copies, sites in kept}
    assert maintained == recounted_copies(instance.engine)
    return maintained
