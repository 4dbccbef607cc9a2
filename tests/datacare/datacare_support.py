"""Data-care test helpers: damage as bit rot leaves it, temps as killed writers leave them."""

from __future__ import annotations

import os
from pathlib import Path

from sexton.stores.paths import TEMP_PREFIX


def flip_a_byte(path: Path, offset: int = 0) -> None:
    """Bit rot: one byte changes, size and mtime stay, so no scan notices."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, (st.st_atime, st.st_mtime))


def leave_temp(directory: Path, mtime: float) -> Path:
    """A temporary file as a writer killed at ``mtime`` would have left it."""
    path = directory / f"{TEMP_PREFIX}{os.urandom(8).hex()}"
    path.write_bytes(b"half a file")
    os.utime(path, (mtime, mtime))
    return path
