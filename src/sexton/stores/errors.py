"""Everything a store can refuse or fail with, so callers catch one family: ``StoreError``."""

from __future__ import annotations

from sexton.checksums import Checksum


class StoreError(Exception):
    """A store could not do what was asked; the message says which store and why."""


class UnsafePath(StoreError, ValueError):
    """A file name that could escape the store root or is not a plain relative path."""


class StoreReadOnly(StoreError):
    """A write or delete on a store configured ``read_only: true``."""


class AlreadyExists(StoreError, FileExistsError):
    """A write would replace a file that is already in the store."""


class StoreFull(StoreError):
    """The store has no room left (its reserve reached, or the device reported ENOSPC)."""


class ChecksumMismatch(StoreError):
    """Data did not hash to the checksum it was expected to have; nothing was kept."""

    def __init__(self, name: str, expected: Checksum, actual: Checksum) -> None:
        super().__init__(f"{name}: checksum mismatch: expected {expected}, got {actual}")
        self.name = name
        self.expected = expected
        self.actual = actual
