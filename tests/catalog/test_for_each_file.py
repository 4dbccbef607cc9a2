"""for_each_file: a command per batch of files needing a mark, marked only on success."""

from __future__ import annotations

from pathlib import Path

import pytest
from catalog_support import catalog_of, put, run_task

from sexton.config import ConfigError

# Appends the batch's paths (from the paths file) to a log, failing on any path with "bad".
APPEND = (
    "  - name: index\n    type: command\n"
    '    command: [/bin/sh, -c, \'grep -q bad "$1" && exit 3; cat "$1" >> "$2"\', sh,'
    " '{{paths_file}}', '{log}']\n"
    "    for_each_file: {{store: store, needs: cdx, value: coll, batch: 2}}\n"
)
SCAN = "  - {name: scan, type: scan, store: store}\n"


def logged(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_each_file_is_processed_exactly_once_across_runs_and_new_arrivals(
    archive, store_dir: Path, tmp_path: Path
):
    log = tmp_path / "log"
    for i in range(5):
        put(store_dir, f"f{i}.warc.gz")
    instance = archive(SCAN + APPEND.format(log=log))
    run_task(instance, "scan")
    assert run_task(instance, "index") == "succeeded"
    assert sorted(logged(log)) == [str(store_dir / f"f{i}.warc.gz") for i in range(5)]
    assert run_task(instance, "index") == "succeeded"  # nothing left to do
    put(store_dir, "f5.warc.gz")
    run_task(instance, "scan")
    assert run_task(instance, "index") == "succeeded"
    assert sorted(logged(log)) == [str(store_dir / f"f{i}.warc.gz") for i in range(6)]
    catalog = catalog_of(instance)
    assert catalog.needs("cdx", "coll") == []


def test_a_failed_batch_marks_nothing_and_fails_the_run(archive, store_dir: Path, tmp_path: Path):
    log = tmp_path / "log"
    put(store_dir, "a-bad.warc.gz", mtime=1)  # oldest: in the last batch, newest first
    for name in ("b.warc.gz", "c.warc.gz"):
        put(store_dir, name)
    instance = archive(SCAN + APPEND.format(log=log))
    run_task(instance, "scan")
    assert run_task(instance, "index") == "failed: exit code 3"
    catalog = catalog_of(instance)
    assert [n.file.name for n in catalog.needs("cdx", "coll")] == ["a-bad.warc.gz"]
    assert len(logged(log)) == 2  # the good batch ran and was marked
    assert run_task(instance, "index") == "failed: exit code 3"
    assert len(logged(log)) == 2  # and was not run again


def test_paths_placeholder_passes_each_path_as_its_own_argument(
    archive, store_dir: Path, tmp_path: Path
):
    log = tmp_path / "log"
    odd = ["with space.warc.gz", "ünïcode.warc.gz"]
    for name in odd:
        put(store_dir, name)
    instance = archive(
        SCAN + "  - name: each\n    type: command\n"
        f"    command: [/bin/sh, -c, 'for p; do echo \"$p\" >> {log}; done', sh, '{{paths}}']\n"
        "    for_each_file: {store: store, needs: seen, batch: 10}\n"
    )
    run_task(instance, "scan")
    assert run_task(instance, "each") == "succeeded"
    assert sorted(logged(log)) == sorted(str(store_dir / n) for n in odd)


def test_paths_inside_a_longer_argument_is_a_config_error(archive):
    with pytest.raises(ConfigError, match="must be a whole argument"):
        archive(
            "  - name: each\n    type: command\n    command: [echo, 'x{paths}']\n"
            "    for_each_file: {store: store, needs: seen}\n"
        )


def test_placeholders_without_for_each_file_are_a_config_error(archive):
    with pytest.raises(ConfigError, match="need for_each_file"):
        archive("  - {name: each, type: command, command: [cat, '{paths_file}']}\n")
