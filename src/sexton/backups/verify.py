"""Verifying a backup where it rests: re-read it from the store, compare size and checksum,
and have the format's own tool say the content is sound.

The object is read once: every chunk goes both to the hasher and to the format check.
"""

from __future__ import annotations

import sqlite3
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Protocol

from ..checksums import CHUNK_SIZE, Checksum, MultiHasher
from ..stores import Store
from . import formats
from .process import PipeCheck


class FormatCheck(Protocol):
    def write(self, data: bytes) -> None: ...

    def finish(self) -> str | None:
        """None when the content is sound, else what is wrong with it."""

    def abort(self) -> None: ...


class SqliteCheck:
    """``PRAGMA integrity_check`` on a local copy: SQLite cannot check a stream."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="sexton-verify-")
        self.path = Path(self._dir.name) / "copy.sqlite"
        self._file = self.path.open("wb")

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def finish(self) -> str | None:
        self._file.close()
        try:
            return sqlite_integrity(self.path)
        finally:
            self._dir.cleanup()

    def abort(self) -> None:
        self._file.close()
        self._dir.cleanup()


def sqlite_integrity(path: Path) -> str | None:
    """None if SQLite finds the database sound, else its findings."""
    try:
        connection = sqlite3.connect(path)  # a scratch copy of ours: read-write is harmless
        try:
            rows = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        finally:
            connection.close()
    except sqlite3.Error as exc:
        return f"not a sound SQLite database: {exc}"
    return None if rows == ["ok"] else "integrity_check: " + "; ".join(map(str, rows[:5]))


def format_check(format: str) -> FormatCheck | None:
    """The check for a backup format; None where only size and checksum can be checked."""
    if format == formats.SQLITE:
        return SqliteCheck()
    if format == formats.PG_CUSTOM:
        return PipeCheck(["pg_restore", "--list"])
    if format == formats.TAR_GZ:
        return PipeCheck(["tar", "-tzf", "-"])
    return None


def verify(store: Store, name: str, size: int, checksum: Checksum, format: str) -> str | None:
    """Re-read a backup from its store; None if it is intact and sound, else the problem."""
    hasher = MultiHasher([checksum.algo])
    check = format_check(format)
    try:
        with store.open_read(name) as f:
            while chunk := f.read(CHUNK_SIZE):
                hasher.update(chunk)
                if check is not None:
                    check.write(chunk)
    except FileNotFoundError:
        if check is not None:
            check.abort()
        return f"{name} is missing from store {store.name}"
    except BaseException:
        if check is not None:
            with suppress(Exception):
                check.abort()
        raise
    problem = check.finish() if check is not None else None
    if hasher.size != size:
        return f"size {hasher.size} in the store, {size} recorded"
    actual = hasher.checksums()[checksum.algo]
    if actual != checksum:
        return f"checksum {actual} in the store, {checksum} recorded"
    return problem
