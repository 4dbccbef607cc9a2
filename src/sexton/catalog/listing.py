"""Reading listings of stores Sexton cannot list itself: ``hadoop fs -ls -R`` output or JSON lines.

Hadoop lines look like
``-rw-r--r--   3 hdfs supergroup   1234 2024-01-31 10:00 /data/warcs/a b.warc.gz``
(the path is everything after the time, spaces included; times are read as UTC).
A JSON line is ``{"name": "a/b.warc.gz", "size": 1234, "mtime": 1706695200.0}``, with
``path`` accepted for ``name`` and ``mtime`` as POSIX seconds or an ISO 8601 string.
Paths may be absolute under the store's root, full URLs, or already relative to the root.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sexton.stores import EntryInfo, UnsafePath, safe_name

from .errors import BadListing

_HADOOP = re.compile(
    r"(?P<perms>[-dlrwxsStT+@.]{10,11})\s+(?P<replicas>-|\d+)\s+\S+\s+\S+\s+(?P<size>\d+)\s+"
    r"(?P<date>\d{4}-\d{2}-\d{2})\s+(?P<time>\d{2}:\d{2})\s(?P<path>.+)"
)
_FOUND = re.compile(r"Found \d+ items?")


def root_of(url: str) -> str:
    """The path part of a store URL, which absolute listing paths start with."""
    return (urlsplit(url).path if "://" in url else url).rstrip("/")


def read_listing(path: Path, root: str) -> Iterator[EntryInfo]:
    """Stream a listing file's entries; ``BadListing`` names the first bad line."""
    with path.open(encoding="utf-8", errors="surrogateescape", newline="\n") as lines:
        for number, line in enumerate(lines, 1):
            text = line.rstrip("\n").rstrip("\r")
            if not text.strip() or _FOUND.fullmatch(text.strip()):
                continue
            try:
                entry = _parse(text, root)
            except (ValueError, UnsafePath) as exc:
                raise BadListing(f"{path}:{number}: {exc}") from None
            if entry is not None:
                yield entry


def _parse(text: str, root: str) -> EntryInfo | None:
    if text.lstrip().startswith("{"):
        return _json_entry(json.loads(text), root)
    match = _HADOOP.fullmatch(text)
    if match is None:
        raise ValueError("expected `hadoop fs -ls -R` output or a JSON object")
    if match["perms"][0] != "-":
        return None  # directories and links
    moment = datetime.strptime(f"{match['date']} {match['time']}", "%Y-%m-%d %H:%M")
    name = _relative(match["path"], root)
    return EntryInfo(name, int(match["size"]), moment.replace(tzinfo=UTC).timestamp())


def _json_entry(value: Any, root: str) -> EntryInfo:
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object with name and size")
    name = value.get("name", value.get("path"))
    size = value.get("size")
    if not isinstance(name, str) or isinstance(size, bool) or not isinstance(size, int):
        raise ValueError("a JSON line needs 'name' (text) and 'size' (a whole number)")
    mtime = value.get("mtime")
    if isinstance(mtime, str):
        mtime = datetime.fromisoformat(mtime.replace("Z", "+00:00")).timestamp()
    elif mtime is not None and (isinstance(mtime, bool) or not isinstance(mtime, int | float)):
        raise ValueError("'mtime' must be POSIX seconds or an ISO 8601 time")
    return EntryInfo(_relative(name, root), size, None if mtime is None else float(mtime))


def _relative(path: str, root: str) -> str:
    """A listed path as a name relative to the store root, checked like any file name."""
    if "://" in path:
        path = urlsplit(path).path
    if path.startswith("/"):
        if not root or not path.startswith(root + "/"):
            raise ValueError(f"{path!r} is not under the store root {root or '/'!r}")
        path = path[len(root) + 1 :]
    return safe_name(path)
