"""for_each_file: a command per batch of files needing a mark, marked only on success."""

from __future__ import annotations

import json
import subprocess
import sys
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
SEXTON = [str(Path(sys.executable).parent / "sexton")]


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


def sexton(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SEXTON, *args, "-c", str(config)], capture_output=True, text=True, timeout=120
    )


def needing(config: Path, *args: str) -> list[str]:
    listed = sexton(config, "catalog", "needs", "cdx=coll", "--json", *args)
    assert listed.returncode == 0, listed.stderr
    return [f["name"] for f in json.loads(listed.stdout)]


@pytest.mark.timeout(300)  # a dozen CLI processes, each importing Sexton afresh
def test_a_file_that_fails_alone_is_quarantined_and_the_older_files_go_on(
    archive, store_dir: Path, tmp_path: Path
):
    log, config = tmp_path / "log", tmp_path / "sexton.yaml"
    for age, name in enumerate(["e", "d", "c-bad", "b", "a"]):  # e newest, a oldest
        put(store_dir, f"{name}.warc.gz", mtime=1000 - age)
    instance = archive(SCAN + APPEND.format(log=log))
    run_task(instance, "scan")

    first = sexton(config, "run", "index")
    assert first.returncode == 1
    assert "1 file quarantined as cdx:failed (exit code 3): c-bad.warc.gz" in first.stderr
    assert "sexton catalog unmark NAME cdx:failed" in first.stderr
    # Newest first, batches of two: [e, d] ran; [c-bad, b] failed and was retried file by
    # file; a, behind the bad file, was not held back.
    assert logged(log) == [str(store_dir / f"{n}.warc.gz") for n in ("e", "d", "b", "a")]
    assert needing(config) == []
    assert needing(config, "--failed") == ["c-bad.warc.gz"]

    again = sexton(config, "run", "index")
    assert again.returncode == 0, again.stderr  # the quarantined file is not retried
    assert len(logged(log)) == 4
    assert needing(config, "--failed") == ["c-bad.warc.gz"]

    released = sexton(config, "catalog", "unmark", "c-bad.warc.gz", "cdx:failed")
    assert released.returncode == 0, released.stderr
    assert needing(config) == ["c-bad.warc.gz"] and needing(config, "--failed") == []
    # Alone in the run, its failure is not proof the file is at fault: it stays to be retried.
    retried = sexton(config, "run", "index")
    assert retried.returncode == 1
    assert "exit code 3 for every file tried; nothing was quarantined" in retried.stderr
    assert needing(config) == ["c-bad.warc.gz"] and needing(config, "--failed") == []


def test_a_command_failing_for_every_file_marks_and_quarantines_nothing(
    archive, store_dir: Path, tmp_path: Path
):
    for name in ("a.warc.gz", "b.warc.gz", "c.warc.gz"):
        put(store_dir, name)
    broken = (
        "  - name: index\n    type: command\n    command: [/bin/sh, -c, 'exit 7']\n"
        "    for_each_file: {store: store, needs: cdx, value: coll, batch: 2}\n"
    )
    instance = archive(SCAN + broken)
    run_task(instance, "scan")
    outcome = run_task(instance, "index")
    assert outcome == "failed: exit code 7 for every file tried; nothing was quarantined"
    catalog = catalog_of(instance)
    assert len(catalog.needs("cdx", "coll")) == 3  # all still to do, by the next run
    assert catalog.needs("cdx", "coll", failed=True) == []


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
