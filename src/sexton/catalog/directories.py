"""How a store's catalogued copies spread over its directories: what a fanned-out scan
sizes its shards by (``tasks.scan_shards``), since only a whole listing could say it of the
store itself."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Connection

from .scanned import listed_paths
from .scope import Scope


@dataclass
class DirectoryCounts:
    """Copies a listing should find (present or corrupt) per directory, down to ``depth``
    levels below the root ("" is the root)."""

    depth: int
    under: Counter[str] = field(default_factory=Counter)  # anywhere below the directory
    direct: Counter[str] = field(default_factory=Counter)  # directly in it
    _children: dict[str, set[str]] = field(default_factory=dict)

    def add(self, path: str) -> None:
        parts = path.split("/")[:-1]
        if len(parts) <= self.depth:
            self.direct["/".join(parts)] += 1
        parent = ""
        for level in range(1, min(len(parts), self.depth) + 1):
            directory = "/".join(parts[:level])
            if directory not in self.under:
                self._children.setdefault(parent, set()).add(directory)
            self.under[directory] += 1
            parent = directory

    def children(self, directory: str) -> set[str]:
        """The directories directly in ``directory`` that hold catalogued copies."""
        return self._children.get(directory, set())


def count_by_directory(
    connection: Connection, store: str, scope: Scope, depth: int
) -> DirectoryCounts:
    """Count the copies on ``store`` in ``scope`` per directory, streaming their names: memory
    grows with the directories down to ``depth``, not with the copies."""
    counts = DirectoryCounts(depth)
    for path in listed_paths(connection, store, scope):
        counts.add(path)
    return counts
