"""Confining file names to a store: every name a caller gives goes through ``safe_name``."""

from __future__ import annotations

from sexton.stores.errors import UnsafePath

# In-progress writes are named ``<dir>/.sexton-tmp-<hex>``: short (so a 250-byte final name
# still fits), hidden, in the final directory (so the rename stays on one filesystem), and
# easy for listings to skip.
TEMP_PREFIX = ".sexton-tmp-"

# Seconds a temporary file may go without being written before it counts as left by a killed
# writer. A live write touches its file with every chunk, so only a writer stalled this long
# (a hung network mount) could lose its file, and it would fail cleanly at its rename.
STALE_TEMP_AGE = 24 * 3600


def safe_name(name: str) -> str:
    """Return ``name`` if it is a plain relative path inside the store, else raise UnsafePath.

    Refused: empty names, absolute paths, ``.`` or ``..`` segments, empty segments (``a//b``
    means one thing on S3 and another on disk), NUL, and the temp prefix Sexton reserves.
    Anything else (spaces, unicode, newlines, long names) is a legal name.
    """
    if not isinstance(name, str) or not name:
        raise UnsafePath(f"empty file name {name!r}")
    if "\0" in name:
        raise UnsafePath(f"file name {name!r} contains a NUL character")
    if name.startswith("/"):
        raise UnsafePath(f"file name {name!r} is absolute; names are relative to the store root")
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            shown = segment or "an empty segment"
            raise UnsafePath(f"file name {name!r} contains {shown!s}; not allowed in a store")
        if segment.startswith(TEMP_PREFIX):
            raise UnsafePath(f"file name {name!r} uses the prefix {TEMP_PREFIX!r} Sexton reserves")
    return name


def is_temp_name(basename: str) -> bool:
    """True for the temporary files of unfinished writes, which listings leave out."""
    return basename.startswith(TEMP_PREFIX)
