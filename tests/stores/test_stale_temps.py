"""Temporary files of killed writers: skipped by listings, removed once stale, and only in the
directories asked about; a live write's file is never touched."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from backends import Backend
from sexton.stores import Store
from sexton.stores.paths import TEMP_PREFIX

DAY = 86_400


def leave_temp(root: Path, directory: str, age: float) -> Path:
    """A temporary file as a writer killed ``age`` seconds ago would have left it."""
    path = root / directory / f"{TEMP_PREFIX}{os.urandom(8).hex()}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half a file")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_stale_temporary_files_go_fresh_ones_and_other_directories_stay(
    backend: Backend, store: Store, files_on_disk: Callable[[], list[str]]
) -> None:
    if backend.local_root is None:
        pytest.skip("S3 writes go straight to their key: no temporary files exist")
    root = backend.local_root
    with store.write("a/kept.warc") as writer:
        writer.write(b"complete")
    stale_top = leave_temp(root, "", 2 * DAY)
    stale = leave_temp(root, "a", 2 * DAY)
    fresh = leave_temp(root, "a", 60)
    elsewhere = leave_temp(root, "b", 2 * DAY)
    assert [e.name for e in store.walk()] == ["a/kept.warc"]  # listings never show them

    removed = store.remove_stale_temps(["", "a", "a", "missing/dir"], time.time() - DAY)
    assert sorted(removed) == sorted([stale_top.name, f"a/{stale.name}"])
    assert files_on_disk() == sorted(["a/kept.warc", f"a/{fresh.name}", f"b/{elsewhere.name}"])


def test_a_live_write_keeps_its_temporary_file(store: Store) -> None:
    with store.write("a/live.warc") as writer:
        writer.write(b"still coming")
        assert store.remove_stale_temps(["a"], time.time() - DAY) == []
        writer.write(b" and done")
    with store.open_read("a/live.warc") as f:
        assert f.read() == b"still coming and done"


def test_a_read_only_store_is_left_as_it_is(
    backend: Backend, make_store: Callable[..., Store]
) -> None:
    if backend.local_root is None:
        pytest.skip("S3 writes go straight to their key: no temporary files exist")
    stale = leave_temp(backend.local_root, "", 2 * DAY)
    assert make_store(read_only=True).remove_stale_temps([""], time.time()) == []
    assert stale.exists()
