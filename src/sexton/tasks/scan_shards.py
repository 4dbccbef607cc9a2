"""A fanned-out scan's shards: directories of the store, each scanned on its own.

A shard is a directory's whole tree, or only the files directly in a directory whose
subdirectories are shards of their own. Each scanned root (the store's root, or each of the
task's ``prefixes``) is split into its directories, plus one shard for the files directly
in it; a directory is split further, down to ``SPLIT_DEPTH`` levels, while that brings the
shards nearer ``fan_out.shard`` files each. The sizes are the catalog's (what the last scan
found; see ``catalog.directories``): a store's first scan therefore splits only its roots.
The directories are the store's listing and the catalog's together, so a directory that
vanished from the store still gets a shard, which marks its files missing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ..catalog import DirectoryCounts, Scope
from ..stores import Store
from .base import ShardBounds

# Levels below a scanned root a scan is split to at most: the counts per directory that
# planning holds grow with it, and deeper trees rarely hold files enough to be worth it.
SPLIT_DEPTH = 3


@dataclass(frozen=True)
class ScanShard:
    """The part of a scan one shard does: the tree under ``directory`` ("" is the root), or,
    unless ``deep``, the files directly in it. Kept in ``ShardBounds.prefix`` as the
    directory, with a trailing ``/`` when not ``deep`` (no file name ends with one)."""

    directory: str
    deep: bool

    @classmethod
    def of(cls, bounds: ShardBounds) -> ScanShard:
        prefix = bounds.prefix
        assert prefix is not None, "a scan's shards are prefixes"
        if prefix.endswith("/"):
            return cls(prefix[:-1], deep=False)
        return cls(prefix, deep=True)

    @property
    def bounds(self) -> ShardBounds:
        return ShardBounds(prefix=self.directory if self.deep else f"{self.directory}/")

    def scope(self, task: Scope) -> Scope:
        """The task's scope cut to this shard; globs still match the whole name."""
        return replace(task, prefixes=(self.directory,), direct=not self.deep)


def plan(store: Store, counts: DirectoryCounts, roots: list[str], size: int) -> Iterator[ScanShard]:
    """The shards that together cover ``roots`` ("" for the whole store), each once."""

    def pieces(directory: str, level: int) -> Iterator[ScanShard]:
        subdirs, has_files = store.directories(directory)
        if has_files or counts.direct[directory]:
            yield ScanShard(directory, deep=False)
        for child in sorted(set(subdirs) | counts.children(directory)):
            if level + 1 < SPLIT_DEPTH and _worth_splitting(counts, child, size):
                yield from pieces(child, level + 1)
            else:
                yield ScanShard(child, deep=True)

    for root in roots:  # a root is always split: a single shard would fan nothing out
        yield from pieces(root, 0)


def _worth_splitting(counts: DirectoryCounts, directory: str, size: int) -> bool:
    """Whether the pieces of ``directory`` (its subdirectories, and its own files) are
    nearer ``size`` files on average than the whole of it, as ratios: 4 shards of 300
    beat one of 1,200 for a size of 500, 40 of 30 do not."""
    files = counts.under[directory]
    pieces = len(counts.children(directory)) + (1 if counts.direct[directory] else 0)
    if files <= size or pieces < 2:
        return False
    return abs(math.log(files / pieces / size)) < abs(math.log(files / size))
