"""What a listing says about one file: its name in the store, its size and its mtime."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple


class EntryInfo(NamedTuple):
    """One file in a store. ``name`` is relative to the store root, ``/``-separated.

    ``mtime`` is POSIX seconds, or None where the backend does not report it. A named tuple,
    not a dataclass: a listing makes one per file, and a frozen dataclass costs twice as much
    to build.
    """

    name: str
    size: int
    mtime: float | None


# fsspec backends disagree on the key and type of the modification time: local gives
# "mtime" as a float, sshfs "mtime" as a datetime, s3fs "LastModified", others "modified".
_MTIME_KEYS = ("mtime", "LastModified", "last_modified", "modified", "updated")


def mtime_of(info: dict[str, Any]) -> float | None:
    """The modification time in an fsspec ``info()`` dict as POSIX seconds, if present."""
    for key in _MTIME_KEYS:
        value = info.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value).timestamp()
            except ValueError:
                continue
    return None
