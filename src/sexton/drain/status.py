"""`sexton drain status`: per drain task its switch, its series' steps, and the source disk.

What the draintasker's get-status script printed (prerequisite files per series and disk
capacity), read from the drain record instead of marker files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..catalog.records import iso
from ..config import Config
from ..stores import Store, StoreError
from ..tasks.drain import DrainTask
from .records import DEFAULT_SWITCH, DrainBook, Series


@dataclass(frozen=True)
class SourceSpace:
    """How full the source is: what the drain exists to keep in check.

    Each number is None where the store cannot tell (object stores) or is unreachable.
    """

    store: str
    prefix: str | None
    free: int | None
    used: int | None
    total: int | None
    error: str | None = None

    @classmethod
    def of(cls, store: Store, prefix: str | None) -> SourceSpace:
        try:
            free, total = store.device_free(), store.device_total()
        except (StoreError, OSError) as exc:
            return cls(store.name, prefix, None, None, None, str(exc))
        used = total - free if free is not None and total is not None else None
        return cls(store.name, prefix, free, used, total)

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "prefix": self.prefix,
            "free": self.free,
            "used": self.used,
            "total": self.total,
            "error": self.error,
        }


@dataclass(frozen=True)
class DrainStatus:
    task: str
    switch: str
    source: SourceSpace
    destination: str
    series: list[Series]  # unfinished ones, or all when asked
    done_series: int
    done_files: int
    done_bytes: int

    @property
    def retry_at(self) -> datetime | None:
        """The earliest retry a failed transfer waits for, if any."""
        times = [s.retry_at for s in self.series if s.retry_at is not None]
        return min(times) if times else None

    def to_json(self) -> dict[str, Any]:
        """The stable shape of `sexton drain status --json`."""
        return {
            "task": self.task,
            "switch": self.switch,
            "source": self.source.to_json(),
            "destination": self.destination,
            "series": [s.to_json() for s in self.series],
            "done": {
                "series": self.done_series,
                "files": self.done_files,
                "bytes": self.done_bytes,
            },
            "retry_at": iso(self.retry_at),
        }


def drain_statuses(
    config: Config, book: DrainBook, stores: Mapping[str, Store], *, include_done: bool = False
) -> list[DrainStatus]:
    """One status per configured drain task, in config order."""
    switches = book.switches()
    result = []
    for name, spec in config.tasks.items():
        params = spec.params
        if not isinstance(params, DrainTask.Params):
            continue
        try:
            source = SourceSpace.of(stores[params.source], params.prefix)
        except (KeyError, StoreError) as exc:
            source = SourceSpace(params.source, params.prefix, None, None, None, str(exc))
        done = book.done_totals(name)
        result.append(
            DrainStatus(
                task=name,
                switch=switches.get(name, DEFAULT_SWITCH),
                source=source,
                destination=params.destination,
                series=book.series_of(name, include_done=include_done),
                done_series=done[0],
                done_files=done[1],
                done_bytes=done[2],
            )
        )
    return result
