"""The `drain` task end to end, local to local, on both databases."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from drain_support import OLD, file_rows, put, run_once, run_task, series_of, tree

from sexton.drain.records import FINISHING, STOPPED, DrainBook
from sexton.drain.steps import Drainer, Series
from sexton.engine.monitor import Monitor


def crawl_files(crawl: Path, sizes: list[int]) -> dict[str, bytes]:
    """Write files of the given sizes, oldest first; return their contents by source name."""
    written = {}
    for index, size in enumerate(sizes):
        name = f"warcs/crawl-{index:03d}.warc.gz"
        data = bytes([index % 251]) * size
        put(crawl, name, data, OLD + index)
        written[name] = data
    return written


def finish(instance) -> None:
    DrainBook(instance.engine).set_switch("drain", FINISHING, instance.clock.now())


def test_finishing_drain_moves_every_file_verified_then_deletes_the_sources(
    drainer, crawl, archive
):
    written = crawl_files(crawl, [40, 40, 40, 150, 30])
    instance = drainer(naming="'{task}-{serial:03d}'")
    finish(instance)

    assert run_task(instance) == "succeeded"

    assert tree(crawl / "warcs") == {}
    series = series_of(instance)
    assert [(s.name, s.state, s.files, s.size) for s in series] == [
        ("drain-001", "done", 2, 80),
        ("drain-002", "done", 1, 40),
        ("drain-003", "done", 1, 150),
        ("drain-004", "done", 1, 30),
    ]
    copies = tree(archive)
    for row in file_rows(instance):
        assert copies[str(row["target"])] == written[str(row["path"])]
        assert row["tombstone"] == f"archive:{row['target']}"
        assert row["deleted_at"] is not None
    assert copies["drain-001/MANIFEST"].decode() == "".join(
        f"SHA256 ({name}) = {hashlib.sha256(written['warcs/' + name]).hexdigest()}\n"
        for name in ("crawl-000.warc.gz", "crawl-001.warc.gz")
    )
    assert not [name for name in copies if ".sexton-tmp-" in name]


def test_running_drain_holds_back_the_newest_file_and_the_part_filled_series(
    drainer, crawl, archive
):
    crawl_files(crawl, [60, 60, 60, 10])
    instance = drainer()

    assert run_task(instance) == "succeeded"

    # 60 | 60 close two series; 60 + 10 would wait for more files, and 10 is the newest.
    assert [s.files for s in series_of(instance)] == [1, 1]
    assert sorted(tree(crawl / "warcs")) == ["crawl-002.warc.gz", "crawl-003.warc.gz"]


def test_min_age_leaves_files_still_being_written(drainer, crawl, clock):
    now = clock.now().timestamp()
    put(crawl, "warcs/old.warc.gz", b"o" * 50, OLD)
    put(crawl, "warcs/young.warc.gz", b"y" * 50, now - 30)
    instance = drainer(min_age="10m")
    finish(instance)

    assert run_task(instance) == "succeeded"

    assert sorted(tree(crawl / "warcs")) == ["young.warc.gz"]


def test_stopped_drain_does_nothing(drainer, crawl):
    crawl_files(crawl, [100, 100, 100])
    instance = drainer()
    DrainBook(instance.engine).set_switch("drain", STOPPED, instance.clock.now())

    assert run_task(instance) == "succeeded"

    assert series_of(instance) == []
    assert len(tree(crawl / "warcs")) == 3


def test_failing_transfer_is_retried_then_deferred_shown_in_status_and_then_succeeds(
    drainer, crawl, archive, clock
):
    written = crawl_files(crawl, [50, 50])
    retries = "{max: 1, backoff: 1m, defer: 1h}"
    broken = drainer(stores=", read_only: true", retries=retries)
    finish(broken)

    assert run_task(broken).startswith("failed: series drain-")
    (series,) = series_of(broken)
    assert "read-only" in str(series.error)
    assert series.retry_at == clock.now() + timedelta(minutes=1)

    clock.advance(timedelta(minutes=1))
    assert run_once(broken).startswith("failed")  # the quick retry; then the deferred one
    (series,) = series_of(broken)
    assert series.retry_at == clock.now() + timedelta(hours=1)
    (status,) = Monitor(broken.config, broken.engine).statuses(clock.now())
    assert status.retry_at == series.retry_at
    assert tree(crawl / "warcs") and not tree(archive)

    mended = drainer(retries=retries)
    clock.advance(timedelta(hours=1))
    assert run_once(mended) == "succeeded"
    assert [(s.state, s.error, s.retry_at) for s in series_of(mended)] == [("done", None, None)]
    rows = file_rows(mended)
    assert tree(crawl / "warcs") == {}
    copies = tree(archive)
    assert sorted(copies) == sorted([f"{series.name}/MANIFEST", *(r["target"] for r in rows)])
    assert all(copies[r["target"]] == written[r["path"]] for r in rows)


@pytest.fixture
def corrupting_transfer(monkeypatch: pytest.MonkeyPatch, archive: Path):
    """Flip a byte of the first copy right after each transfer, as bit rot or a bad
    controller would, before the verification reads it back."""
    real = Drainer.transfer

    def transfer(self: Drainer, series: Series) -> str:
        step = real(self, series)
        copy = sorted((archive / series.name).glob("*.warc.gz"))[0]
        data = bytearray(copy.read_bytes())
        data[0] ^= 0xFF
        copy.write_bytes(bytes(data))
        return step

    monkeypatch.setattr(Drainer, "transfer", transfer)
    return monkeypatch


def test_verification_mismatch_is_a_sticky_error_until_cleared(
    drainer, crawl, archive, clock, corrupting_transfer
):
    written = crawl_files(crawl, [100, 100])
    instance = drainer(naming="'{task}-{serial:03d}'")
    finish(instance)

    outcome = run_task(instance)
    assert outcome.startswith("failed: 2 drain series in ERROR")
    assert all(s.state == "error" and "checksum" in str(s.error) for s in series_of(instance))
    assert tree(crawl / "warcs") == {k[len("warcs/") :]: v for k, v in written.items()}
    (status,) = Monitor(instance.config, instance.engine).statuses(clock.now())
    assert status.status == "down" and "ERROR" in str(status.error)

    corrupting_transfer.undo()
    assert run_task(instance).startswith("failed: 2 drain series in ERROR")  # not cleared yet
    assert len(tree(crawl / "warcs")) == 2

    instance.book.clear("drain")
    assert run_task(instance) == "succeeded"
    assert [s.state for s in series_of(instance)] == ["done", "done"]
    assert tree(crawl / "warcs") == {}
    copies = tree(archive)
    for row in file_rows(instance):
        assert copies[str(row["target"])] == written[str(row["path"])]


def test_size_verification_catches_a_truncated_copy(drainer, crawl, archive, monkeypatch):
    crawl_files(crawl, [100])
    real = Drainer.transfer

    def truncating(self: Drainer, series: Series) -> str:
        step = real(self, series)
        (copy,) = (archive / series.name).glob("*.warc.gz")
        copy.write_bytes(copy.read_bytes()[:-1])
        return step

    monkeypatch.setattr(Drainer, "transfer", truncating)
    instance = drainer(verify="size")
    finish(instance)

    assert run_task(instance).startswith("failed: 1 drain series in ERROR")
    (series,) = series_of(instance)
    assert "99 bytes" in str(series.error)
    assert len(tree(crawl / "warcs")) == 1
