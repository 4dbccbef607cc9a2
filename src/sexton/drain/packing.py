"""Packing: which source files go into the next series, and what the series is called.

As the draintasker's pack-warcs did: files in the order they were written, grouped until a
series reaches ``max_size``; a file bigger than that forms a series alone. While the crawl
runs, only full series are packed and the newest file is held back (the crawler may still
be writing it); a finishing drain packs everything, the last part-filled series too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from ..stores import EntryInfo, safe_name
from .records import PackedFile

DEFAULT_NAMING = "{task}-{date:%Y%m%d%H%M%S}-{serial:05d}"
# The manifest's name in a series; a source file of that name at the top of the drained prefix
# would overwrite it, so such a file is never packed.
MANIFEST_NAME = "MANIFEST"


def series_name(template: str, task: str, now: datetime, serial: int) -> str:
    """The series' directory in the destination; ``{date}`` is the packing time in UTC."""
    return safe_name(template.format(task=task, date=now.astimezone(UTC), serial=serial))


def check_naming(template: str) -> str:
    """Return ``template`` if it makes safe, distinct names, else raise ``ValueError``."""
    if "{serial" not in template:
        raise ValueError("the naming template must contain {serial}: series names must differ")
    try:
        series_name(template, "task", datetime(2000, 1, 2, 3, 4, 5, tzinfo=UTC), 1)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"bad naming template {template!r} ({exc}); it may use {{task}}, "
            "{date:STRFTIME} and {serial}"
        ) from None
    return template


def _written_order(entry: EntryInfo) -> tuple[float, str]:
    return (entry.mtime or 0.0, entry.name)


def candidates(
    listing: Iterable[EntryInfo],
    *,
    prefix: str | None,
    draining: set[str],
    written_before: float | None,
    finishing: bool,
) -> list[EntryInfo]:
    """The files that may be packed now, oldest first.

    Left out: files already in a series, files modified after ``written_before`` (POSIX
    seconds; ``min_age``), a top-level ``MANIFEST``, and unless ``finishing`` the newest
    file of the whole listing.
    """
    entries = sorted(listing, key=_written_order)
    if entries and not finishing:
        entries.pop()
    manifest = f"{prefix}/{MANIFEST_NAME}" if prefix else MANIFEST_NAME
    return [
        e
        for e in entries
        if e.name not in draining
        and e.name != manifest
        and (written_before is None or e.mtime is None or e.mtime <= written_before)
    ]


def group(entries: Sequence[EntryInfo], max_size: int, finishing: bool) -> list[list[EntryInfo]]:
    """Cut ``entries`` (in order) into series of at most ``max_size`` bytes each.

    A series closes when the next file would overflow it or when it is full; the open
    series at the end is kept only when ``finishing``.
    """
    groups: list[list[EntryInfo]] = []
    current: list[EntryInfo] = []
    size = 0
    for entry in entries:
        if current and size + entry.size > max_size:
            groups.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry.size
        if size >= max_size:
            groups.append(current)
            current, size = [], 0
    if current and finishing:
        groups.append(current)
    return groups


def packed_files(series: str, entries: Iterable[EntryInfo], prefix: str | None) -> list[PackedFile]:
    """Each file's name in the destination: its path under the drained prefix, in the series."""
    cut = len(prefix) + 1 if prefix else 0
    return [PackedFile(e.name, f"{series}/{e.name[cut:]}", e.size) for e in entries]
