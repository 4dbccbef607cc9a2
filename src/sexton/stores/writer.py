"""The object ``Store.write`` yields: bytes written through it are hashed on the way."""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO

from sexton.checksums import Checksum, MultiHasher


class StoreWriter:
    """Writes to a store's temporary file and hashes the same bytes, so no re-read is needed.

    ``size`` and ``checksums`` stay readable after the ``with`` block, for the catalog.
    """

    def __init__(self, name: str, fileobj: BinaryIO, algos: Iterable[str]) -> None:
        self.name = name
        self._file = fileobj
        self._hasher = MultiHasher(algos)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._file.write(data)
        self._hasher.update(data)
        return len(data)

    @property
    def size(self) -> int:
        return self._hasher.size

    @property
    def checksums(self) -> dict[str, Checksum]:
        return self._hasher.checksums()
