"""Writes are all-or-nothing: hashed as written, visible under their name only when complete."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from sexton.checksums import Checksum
from sexton.stores import (
    AlreadyExists,
    ChecksumMismatch,
    Store,
    StoreFull,
    StoreReadOnly,
)


class Boom(Exception):
    pass


def test_write_checksums_match_hashlib(store: Store) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    with store.write("a/b/c.bin", ["md5", "sha256", "blake3"]) as writer:
        writer.write(data[:1000])
        writer.write(data[1000:])
    assert writer.size == len(data)
    assert writer.checksums["md5"] == Checksum("md5", hashlib.md5(data).hexdigest())
    assert writer.checksums["sha256"] == Checksum("sha256", hashlib.sha256(data).hexdigest())
    with store.open_read("a/b/c.bin") as f:
        assert f.read() == data
    info = store.info("a/b/c.bin")
    assert info is not None and info.size == len(data)


def test_a_file_written_in_pieces_of_every_size_past_the_writeback_steps_is_intact(
    store: Store,
) -> None:
    """Local writes hand their data to the disk every few MiB as they go; nothing of it may
    be lost or reordered on the way, whatever the sizes of the pieces."""
    data = os.urandom(20 * 1024 * 1024 + 4099)
    pieces = [1, 4096, 8 * 1024 * 1024 - 1, 3, 5 * 1024 * 1024 + 11]
    with store.write("pieces.bin", ["sha256"]) as writer:
        offset = 0
        for size in pieces:
            writer.write(data[offset : offset + size])
            offset += size
        writer.write(data[offset:])
    assert writer.checksums["sha256"] == Checksum("sha256", hashlib.sha256(data).hexdigest())
    with store.open_read("pieces.bin") as f:
        assert f.read() == data


def test_file_is_not_visible_under_its_name_until_the_write_completes(store: Store) -> None:
    with store.write("incoming/file.warc") as writer:
        writer.write(b"x" * 100_000)
        assert not store.exists("incoming/file.warc")
        assert [e.name for e in store.walk()] == []
    assert store.exists("incoming/file.warc")
    assert [e.name for e in store.walk()] == ["incoming/file.warc"]


def test_exception_mid_write_leaves_neither_final_nor_temp_file(
    store: Store, files_on_disk: Callable[[], list[str]]
) -> None:
    with pytest.raises(Boom), store.write("half/written.bin") as writer:
        writer.write(b"y" * 500_000)
        raise Boom()
    assert not store.exists("half/written.bin")
    assert list(store.walk()) == []
    assert files_on_disk() == []


def test_write_from_with_matching_checksum_keeps_the_copy(store: Store) -> None:
    data = b"archive payload\n" * 1000
    expected = Checksum("sha1", hashlib.sha1(data).hexdigest())
    writer = store.write_from("copy.bin", io.BytesIO(data), ["md5"], expected=expected)
    assert writer.checksums["sha1"] == expected
    assert writer.checksums["md5"].hexdigest == hashlib.md5(data).hexdigest()
    assert store.info("copy.bin") is not None


def test_write_from_with_wrong_checksum_leaves_nothing(
    store: Store, files_on_disk: Callable[[], list[str]]
) -> None:
    wrong = Checksum("md5", hashlib.md5(b"something else").hexdigest())
    with pytest.raises(ChecksumMismatch) as caught:
        store.write_from("bad/copy.bin", io.BytesIO(b"the real data"), expected=wrong)
    assert caught.value.expected == wrong
    assert caught.value.actual.hexdigest == hashlib.md5(b"the real data").hexdigest()
    assert not store.exists("bad/copy.bin")
    assert files_on_disk() == []


def test_write_refuses_to_replace_an_existing_file_unless_asked(store: Store) -> None:
    store.write_from("f.txt", io.BytesIO(b"first"))
    with pytest.raises(AlreadyExists):
        store.write_from("f.txt", io.BytesIO(b"second"))
    store.write_from("f.txt", io.BytesIO(b"third"), overwrite=True)
    with store.open_read("f.txt") as f:
        assert f.read() == b"third"


def test_empty_file_round_trips(store: Store) -> None:
    with store.write("empty") as writer:
        pass
    assert writer.size == 0
    info = store.info("empty")
    assert info is not None and info.size == 0


def test_read_only_store_refuses_writes_and_deletes(make_store: Callable[..., Store]) -> None:
    make_store().write_from("kept.txt", io.BytesIO(b"keep me"))
    store = make_store(read_only=True)
    with pytest.raises(StoreReadOnly), store.write("new.txt"):
        pass
    with pytest.raises(StoreReadOnly):
        store.write_from("new.txt", io.BytesIO(b"x"))
    with pytest.raises(StoreReadOnly):
        store.delete("kept.txt")
    assert store.exists("kept.txt") and not store.exists("new.txt")


def test_delete_removes_the_file_and_reports_a_missing_one(store: Store) -> None:
    store.write_from("gone.txt", io.BytesIO(b"bye"))
    store.delete("gone.txt")
    assert not store.exists("gone.txt")
    with pytest.raises(FileNotFoundError):
        store.delete("gone.txt")
    store.delete("gone.txt", missing_ok=True)


def test_write_with_a_size_that_does_not_fit_is_refused_before_writing(
    local_store: Store, tmp_path: Path
) -> None:
    with pytest.raises(StoreFull, match="no room"), local_store.write("huge", size=10**18):
        pass
    assert not local_store.exists("huge")
    assert list(Path(local_store.root).iterdir()) == []


def test_aborted_multipart_upload_leaves_no_object(
    s3_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sexton.stores.s3.UPLOAD_PART_SIZE", 5 * 1024 * 1024)  # S3's minimum
    chunk = os.urandom(1024 * 1024)
    with pytest.raises(Boom), s3_store.write("big.bin") as writer:
        for _ in range(12):  # two parts uploaded before the failure
            writer.write(chunk)
        raise Boom()
    assert not s3_store.exists("big.bin")
    bucket, _, prefix = s3_store.root.partition("/")
    uploads = s3_store.fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix)
    assert uploads.get("Uploads", []) == []


def test_large_multipart_upload_round_trips(
    s3_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sexton.stores.s3.UPLOAD_PART_SIZE", 5 * 1024 * 1024)
    data = os.urandom(11 * 1024 * 1024)
    writer = s3_store.write_from("big.bin", io.BytesIO(data), ["sha256"])
    assert writer.checksums["sha256"].hexdigest == hashlib.sha256(data).hexdigest()
    with s3_store.open_read("big.bin") as f:
        assert hashlib.sha256(f.read()).hexdigest() == hashlib.sha256(data).hexdigest()
