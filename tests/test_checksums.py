"""Checksums: the ``algo:hex`` format, librarian's bare md5, and hashers that match hashlib."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import blake3
import pytest
import xxhash
from hypothesis import given
from hypothesis import strategies as st

from sexton.checksums import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    HEX_LENGTHS,
    Checksum,
    MultiHasher,
    hash_files_parallel,
    hash_stream,
)

MD5_EMPTY = "d41d8cd98f00b204e9800998ecf8427e"


def reference(algo: str, data: bytes) -> str:
    if algo == "xxh3_128":
        return xxhash.xxh3_128(data).hexdigest()
    if algo == "blake3":
        return blake3.blake3(data).hexdigest()
    return hashlib.new(algo, data).hexdigest()


def test_supported_algorithms_and_default() -> None:
    assert set(ALGORITHMS) == {"md5", "sha1", "sha256", "sha512", "xxh3_128", "blake3"}
    assert DEFAULT_ALGORITHM == "sha256"


def test_parse_and_format_round_trip() -> None:
    checksum = Checksum.parse(f"md5:{MD5_EMPTY}")
    assert checksum == Checksum("md5", MD5_EMPTY)
    assert str(checksum) == f"md5:{MD5_EMPTY}"


def test_bare_hex_is_md5_for_librarian_compatibility() -> None:
    assert Checksum.parse(MD5_EMPTY) == Checksum("md5", MD5_EMPTY)
    assert Checksum.parse(MD5_EMPTY.upper() + "\n") == Checksum("md5", MD5_EMPTY)


def test_upper_case_algorithm_and_hex_are_normalised() -> None:
    assert str(Checksum.parse(f"MD5:{MD5_EMPTY.upper()}")) == f"md5:{MD5_EMPTY}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"crc32:{MD5_EMPTY}", "unknown checksum algorithm 'crc32'"),
        ("md5:abc", "expected 32 lower-case hex digits"),
        (f"sha256:{MD5_EMPTY}", "expected 64"),
        ("md5:" + "g" * 32, "hex digits"),
        ("abc123", "bare md5"),
        ("", "bare md5"),
    ],
)
def test_bad_checksums_are_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Checksum.parse(text)


@given(st.sampled_from(sorted(ALGORITHMS)), st.binary(max_size=64))
def test_any_digest_round_trips_through_its_text_form(algo: str, data: bytes) -> None:
    checksum = Checksum(algo, reference(algo, data))
    assert len(checksum.hexdigest) == HEX_LENGTHS[algo]
    assert Checksum.parse(str(checksum)) == checksum


@given(st.lists(st.binary(max_size=5000), max_size=8))
def test_multihasher_equals_each_library_fed_at_once(chunks: list[bytes]) -> None:
    hasher = MultiHasher(ALGORITHMS)
    for chunk in chunks:
        hasher.update(chunk)
    data = b"".join(chunks)
    assert hasher.size == len(data)
    assert hasher.checksums() == {a: Checksum(a, reference(a, data)) for a in ALGORITHMS}


def test_multihasher_refuses_unknown_or_no_algorithm() -> None:
    with pytest.raises(ValueError, match="unknown checksum algorithm"):
        MultiHasher(["md5", "sha3"])
    with pytest.raises(ValueError, match="at least one"):
        MultiHasher([])


def test_hash_stream_reads_in_chunks_and_returns_size() -> None:
    data = os.urandom(1_000_003)
    size, checksums = hash_stream(io.BytesIO(data), ["sha256", "md5"], chunk_size=4096)
    assert size == len(data)
    assert checksums["sha256"].hexdigest == hashlib.sha256(data).hexdigest()
    assert checksums["md5"].hexdigest == hashlib.md5(data).hexdigest()


def test_parallel_hashing_gives_the_same_results_as_sequential(tmp_path: Path) -> None:
    paths = []
    for i in range(12):
        path = tmp_path / f"f{i}"
        path.write_bytes(os.urandom(i * 100_003))
        paths.append(path)
    algos = ["sha256", "xxh3_128", "blake3"]
    sequential = {}
    for path in paths:
        with path.open("rb") as f:
            sequential[path] = hash_stream(f, algos)
    results = list(hash_files_parallel(paths, algos, threads=4, chunk_size=65536))
    assert sorted(r.source for r in results) == sorted(paths)
    for result in results:
        assert result.error is None
        assert (result.size, result.checksums) == sequential[result.source]


def test_parallel_hashing_accepts_openers(tmp_path: Path) -> None:
    data = b"from an opener"
    results = list(hash_files_parallel([lambda: io.BytesIO(data)], ["md5"]))
    assert results[0].checksums["md5"].hexdigest == hashlib.md5(data).hexdigest()


def test_unreadable_file_is_reported_not_raised(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_bytes(b"ok")
    results = {r.source: r for r in hash_files_parallel([good, tmp_path / "gone"], ["md5"])}
    assert results[good].error is None
    assert isinstance(results[tmp_path / "gone"].error, FileNotFoundError)


def test_parallel_hashing_pulls_sources_lazily() -> None:
    pulled = 0

    def sources() -> Iterator[Callable[[], io.BytesIO]]:
        nonlocal pulled
        for _ in range(10_000):
            pulled += 1
            yield lambda: io.BytesIO(b"x")

    results = hash_files_parallel(sources(), ["md5"], threads=2)
    next(results)
    results.close()
    assert pulled <= 10
