"""Stores on S3 (and S3-compatible servers such as MinIO or Ceph), through s3fs.

An S3 upload is already atomic: the object appears only when the single PUT or the last
step of a multipart upload completes. So a write goes straight to the final key, and an
aborted write aborts the upload; a temporary key plus a copy would double the traffic.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import suppress
from typing import Any, BinaryIO

from fsspec.asyn import sync

from sexton.stores.entry import EntryInfo, mtime_of
from sexton.stores.errors import StoreError
from sexton.stores.paths import is_temp_name
from sexton.stores.store import PendingWrite, Store

# Read-ahead for streaming reads: two hashing chunks per ranged GET halves the requests.
READ_BLOCK_SIZE = 8 * 1024 * 1024

# Multipart part size: S3 allows 10,000 parts, so 64 MiB parts reach 640 GB objects, while
# one part buffered in memory per concurrent write stays affordable.
UPLOAD_PART_SIZE = 64 * 1024 * 1024

# Listed objects handed from the event loop to the caller at once: one S3 listing page.
LISTING_BATCH = 1000


class S3Store(Store):
    """A bucket, or a key prefix in one (``s3://bucket/prefix``)."""

    def _walk_under(self, top: str, relative: str, deep: bool) -> Iterator[EntryInfo]:
        # One flat, paginated listing of the prefix (no delimiter), consumed page by page:
        # fsspec's walk would list "directory" by "directory" and cache every listing.
        if not deep:  # one "directory": the generic listing asks for it with a delimiter
            yield from super()._walk_under(top, relative, deep)
            return
        bucket, _, key = top.partition("/")
        cut = len(top) + 1
        listing = self.fs._iterdir(bucket, delimiter="", prefix=f"{key}/" if key else "")
        for batch in _iterate_batches(self.fs.loop, listing):
            for info in batch:
                name = info["name"]
                if name.endswith("/") or is_temp_name(name.rsplit("/", 1)[-1]):
                    continue  # "directory" marker objects, and never our temp names
                yield EntryInfo(relative + name[cut:], int(info["size"]), mtime_of(info))

    def _check_root(self) -> None:
        bucket = self.root.partition("/")[0]
        if not self.fs.exists(bucket):
            raise StoreError(f"store {self.name}: bucket {bucket!r} does not exist")

    def open_read(self, name: str) -> BinaryIO:
        f: BinaryIO = self.fs.open(self.path(name), "rb", block_size=READ_BLOCK_SIZE)
        return f

    def _temp_files(self, top: str) -> Iterator[tuple[str, float | None]]:
        return iter(())  # writes go straight to their key (a multipart upload): no temp files

    def _begin_write(self, final: str, overwrite: bool) -> PendingWrite:
        file = self.fs.open(final, "wb", block_size=UPLOAD_PART_SIZE)
        return PendingWrite(file, final, final, overwrite)

    def _commit_write(self, pending: PendingWrite) -> None:
        pending.file.close()  # completes the PUT or multipart upload: the object appears now

    def _abort_write(self, pending: PendingWrite) -> None:
        file: Any = pending.file
        try:
            with suppress(Exception):  # never hide the error that made us abort
                file.discard()  # aborts a multipart upload; a small file was never sent
        finally:
            file.closed = True  # so that closing (or garbage collection) does not upload it


async def _batched(
    agen: AsyncIterator[dict[str, Any]], size: int
) -> AsyncGenerator[list[dict[str, Any]], None]:
    batch: list[dict[str, Any]] = []
    async for item in agen:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _iterate_batches(
    loop: Any, agen: AsyncIterator[dict[str, Any]]
) -> Iterator[list[dict[str, Any]]]:
    """Drive an async listing on fsspec's event loop from synchronous code.

    Items cross threads a page at a time: one hand-over per object would dominate the time
    of a million-object listing.
    """
    batches = _batched(agen, LISTING_BATCH)
    try:
        while True:
            try:
                yield sync(loop, batches.__anext__)
            except StopAsyncIteration:
                return
    finally:
        sync(loop, batches.aclose)
