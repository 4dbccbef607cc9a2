"""Values the catalog hands to tasks, the CLI and the API: frozen, with their JSON shapes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Instance states. A vanished copy becomes `missing`, never forgotten; `deleted` is a copy
# Sexton removed on purpose; `corrupt` one whose content no longer matches its checksum.
PRESENT = "present"
MISSING = "missing"
CORRUPT = "corrupt"
DELETED = "deleted"
STATES = (PRESENT, MISSING, CORRUPT, DELETED)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z``, as every JSON shape of Sexton writes times."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One file the catalog looks after, whatever store its copies are on."""

    id: int
    name: str
    size: int
    checksum: str | None
    created_at: datetime | None
    ingested_at: datetime
    source: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "checksum": self.checksum,
            "created_at": iso(self.created_at),
            "ingested_at": iso(self.ingested_at),
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """One copy of a file on one store."""

    store: str
    path: str
    state: str
    deletion_policy: str
    size_seen: int | None
    mtime_seen: float | None
    changed_at: datetime | None
    verified_at: datetime | None
    verified_checksum: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "path": self.path,
            "state": self.state,
            "deletion_policy": self.deletion_policy,
            "size_seen": self.size_seen,
            "mtime_seen": self.mtime_seen,
            "changed_at": iso(self.changed_at),
            "verified_at": iso(self.verified_at),
            "verified_checksum": self.verified_checksum,
        }


@dataclass(frozen=True, slots=True)
class MarkRecord:
    """A processing flag on a file (``cdx_indexed=collection``); ``value`` is '' if none."""

    name: str
    value: str
    marked_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "marked_at": iso(self.marked_at)}


@dataclass(frozen=True, slots=True)
class RepairRecord:
    """One step in repairing a damaged copy: ``detected``, ``repaired`` (from ``source``:
    ``store NAME`` or ``site NAME/STORE``) or ``lost``."""

    event: str
    store: str  # the damaged copy's
    source: str | None
    detail: str | None
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "store": self.store,
            "source": self.source,
            "detail": self.detail,
            "at": iso(self.at),
        }


@dataclass(frozen=True, slots=True)
class CheckRecord:
    """One fixity check of a copy: ``match``, ``mismatch``, ``damaged`` or ``missing``."""

    store: str
    path: str
    outcome: str
    checksum: str | None  # what the check computed
    detail: str | None
    run_id: int | None
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "path": self.path,
            "outcome": self.outcome,
            "checksum": self.checksum,
            "detail": self.detail,
            "run_id": self.run_id,
            "at": iso(self.at),
        }


@dataclass(frozen=True, slots=True)
class FileDetail:
    """``sexton catalog show``: a file with its copies, marks, latest checks and repairs."""

    file: FileRecord
    instances: tuple[InstanceRecord, ...]
    marks: tuple[MarkRecord, ...]
    repairs: tuple[RepairRecord, ...] = ()
    checks: tuple[CheckRecord, ...] = ()  # the latest, newest first

    def to_json(self) -> dict[str, Any]:
        return {
            **self.file.to_json(),
            "instances": [i.to_json() for i in self.instances],
            "marks": [m.to_json() for m in self.marks],
            "repairs": [r.to_json() for r in self.repairs],
            "checks": [c.to_json() for c in self.checks],
        }


@dataclass(frozen=True, slots=True)
class ListedFile:
    """One row of ``sexton catalog ls``: a file and one of its copies (None if it has none)."""

    file: FileRecord
    store: str | None
    path: str | None
    state: str | None

    def to_json(self) -> dict[str, Any]:
        return {**self.file.to_json(), "store": self.store, "path": self.path, "state": self.state}


@dataclass(frozen=True, slots=True)
class NeededFile:
    """A file that lacks a mark, with its path on the store asked about (else its name)."""

    file: FileRecord
    path: str


@dataclass(frozen=True, slots=True)
class StoreStats:
    files: int
    bytes: int
    free: int | None
    enabled: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "bytes": self.bytes,
            "free": self.free,
            "enabled": self.enabled,
        }


@dataclass(frozen=True, slots=True)
class CatalogStats:
    """``sexton catalog stats``: the shape in DESIGN §4."""

    files: int
    bytes: int
    instances: dict[str, int]
    stores: dict[str, StoreStats]
    # Files below their copies rule, and lost ones; counted only when asked (a full pass).
    under_replicated: int | None = None
    lost: int | None = None

    def to_json(self) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "files": self.files,
            "bytes": self.bytes,
            "instances": {state: self.instances.get(state, 0) for state in STATES},
            "stores": {name: s.to_json() for name, s in self.stores.items()},
        }
        if self.under_replicated is not None:
            shape["under_replicated"] = self.under_replicated
            shape["lost"] = self.lost
        return shape


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What one scan or imported listing changed in the catalog."""

    listed: int = 0  # entries in scope
    new: int = 0
    changed: int = 0
    reappeared: int = 0  # missing or deleted copies found again
    missing: int = 0  # copies no longer listed, now marked missing
    too_young: int = 0  # skipped: modified more recently than min_age
    unreadable: int = 0  # could not be hashed; left for the next scan
    unstorable: int = 0  # names that are not UTF-8, which the catalog cannot hold: left out
    unstorable_names: tuple[str, ...] = ()  # the first few, undecodable bytes as \xNN
    hashed_bytes: int = 0
    swept: bool = False  # whether a second listing was needed to find vanished files

    def to_json(self) -> dict[str, Any]:
        return {
            "listed": self.listed,
            "new": self.new,
            "changed": self.changed,
            "reappeared": self.reappeared,
            "missing": self.missing,
            "too_young": self.too_young,
            "unreadable": self.unreadable,
            "unstorable": self.unstorable,
            "unstorable_names": list(self.unstorable_names),
            "hashed_bytes": self.hashed_bytes,
        }
