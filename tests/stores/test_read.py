"""Reading back: streamed reads hash to what the write recorded, on every backend."""

from __future__ import annotations

import functools
import io
import os

from sexton.checksums import hash_files_parallel, hash_stream
from sexton.stores import Store


def test_streamed_read_hashes_to_the_checksum_recorded_at_write(store: Store) -> None:
    data = os.urandom(9 * 1024 * 1024 + 1)
    writer = store.write_from("payload.warc.gz", io.BytesIO(data), ["sha256", "md5"])
    with store.open_read("payload.warc.gz") as f:
        size, checksums = hash_stream(f, ["sha256", "md5"])
    assert size == len(data)
    assert checksums == writer.checksums


def test_parallel_hashing_of_store_files_matches_their_write_checksums(store: Store) -> None:
    recorded = {}
    for i in range(6):
        name = f"batch/{i}.bin"
        recorded[name] = store.write_from(name, io.BytesIO(os.urandom(i * 70_001))).checksums
    openers = {functools.partial(store.open_read, name): name for name in recorded}
    results = list(hash_files_parallel(openers, ["sha256"], threads=3))
    assert len(results) == len(recorded)
    for result in results:
        assert result.error is None
        assert result.checksums == recorded[openers[result.source]]
