"""`sexton drain start|stop|finish|status`: the switches and what scripts read."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from drain_support import OLD, put, run_task

from sexton.cli import main
from sexton.drain.records import DrainBook

DRAIN_KEYS = {"task", "switch", "source", "destination", "series", "done", "retry_at"}
SOURCE_KEYS = {"store", "prefix", "free", "used", "total", "error"}
SERIES_KEYS = {"serial", "name", "state", "size", "files", "error", "retry_at", "updated_at"}


def drain_cli(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["drain", *args, "-c", str(config)])
    return result.exit_code, result.output


def test_switches_are_recorded_and_an_unknown_task_is_refused(drainer, tmp_path):
    instance = drainer()
    config = tmp_path / "sexton.yaml"
    book = DrainBook(instance.engine)
    assert book.switch("drain") == "running"  # a configured drain drains until stopped

    for command, state in (("stop", "stopped"), ("finish", "finishing"), ("start", "running")):
        code, output = drain_cli(config, command, "drain")
        assert code == 0, output
        assert book.switch("drain") == state

    code, output = drain_cli(config, "stop", "nope")
    assert code == 1 and "no drain task named 'nope'" in output


def test_status_json_shows_switch_series_steps_and_source_space(drainer, crawl, tmp_path):
    for index in range(3):
        put(crawl, f"warcs/{index}.warc.gz", b"w" * 100, OLD + index)
    instance = drainer()
    assert run_task(instance) == "succeeded"  # two full series; the newest file waits
    config = tmp_path / "sexton.yaml"
    drain_cli(config, "finish", "drain")

    code, output = drain_cli(config, "status", "--json")
    assert code == 0, output
    (drain,) = json.loads(output)
    assert set(drain) == DRAIN_KEYS
    assert drain["switch"] == "finishing" and drain["destination"] == "archive"
    assert set(drain["source"]) == SOURCE_KEYS
    assert drain["source"]["store"] == "crawl" and drain["source"]["prefix"] == "warcs"
    assert drain["source"]["free"] > 0 and drain["source"]["used"] > 0
    assert drain["series"] == []  # finished series are summed, not listed
    assert drain["done"] == {"series": 2, "files": 2, "bytes": 200}

    code, output = drain_cli(config, "status", "--json", "--all")
    (drain,) = json.loads(output)
    assert [set(s) for s in drain["series"]] == [SERIES_KEYS, SERIES_KEYS]
    assert [(s["serial"], s["state"], s["files"], s["size"]) for s in drain["series"]] == [
        (1, "done", 1, 100),
        (2, "done", 1, 100),
    ]
    assert drain["series"][0]["updated_at"].endswith("Z")

    code, output = drain_cli(config, "status")
    assert code == 0 and "drain" in output and "finishing" in output


def test_status_table_shows_a_series_error_whole(drainer, crawl, tmp_path):
    # The reason is what a person needs to mend a drain: the table wraps it, never cuts it.
    put(crawl, "warcs/0.warc.gz", b"w" * 100, OLD)
    instance = drainer(stores=", read_only: true")
    config = tmp_path / "sexton.yaml"
    drain_cli(config, "finish", "drain")
    assert run_task(instance).startswith("failed")  # packed; the archive refused the MANIFEST
    book = DrainBook(instance.engine)
    (series,) = book.series_of("drain")
    error = (
        "the archive's disk went away while the manifest was written [sdb1]; it is mounted"
        " again now, so the next retry should pass"
    )
    book.record_retry(series, error, None, instance.clock.now())

    code, output = drain_cli(config, "status")
    assert code == 0, output
    assert all(word in output for word in error.split())
