"""SneakerNet: copies carried from one site to another on drives shipped by hand.

At the source, ``create_local_clone`` fills a drive store; ``export_manifest`` then writes onto
the drive a manifest of the catalog's copies there (names, sizes, checksums, the source site).
At the destination, ``import_drive`` copies each listed file from the drive into a store,
hashing while it copies; only a copy whose size and checksum match the manifest is renamed
into place and registered, under the deletion policy asked for. Whatever was missing from the
drive, damaged on it, or conflicts with the destination's catalog is reported, and importing
the same drive again ingests nothing twice. When the sites can talk, ``notify_source`` tells
the source which files the destination now holds verified, and the source records them as
confirmed remote instances (the same call a network transfer ends with).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..catalog import DISALLOWED, PRESENT, Arrival, ArrivalConflict, Catalog
from ..catalog.records import iso
from ..checksums import Checksum, hash_stream
from ..stores import AlreadyExists, ChecksumMismatch, Store, StoreFull, safe_name
from .messages import MAX_BATCH, Confirmation

if TYPE_CHECKING:  # the HTTP client is loaded only by the imports that tell a source
    from .sites import SiteClient

MANIFEST_NAME = "sexton-manifest.json"  # at the drive's root, where a person looks first
FORMAT: Final = "sexton-sneakernet/1"  # bumped only if a reader of this version would misread it

# Why a listed file was not ingested.
MISSING: Final = "missing"  # not on the drive
DAMAGED: Final = "damaged"  # on the drive with another size or checksum than the manifest's
CONFLICT: Final = "conflict"  # the destination holds that name with other content
NO_ROOM: Final = "no_room"  # the destination store filled up before this file
Problem = Literal["missing", "damaged", "conflict", "no_room"]


class SneakernetError(Exception):
    """A manifest or drive that cannot be used; nothing was changed."""


# -- the manifest --------------------------------------------------------------------------


class ManifestFile(BaseModel):
    """One file on the drive: its name (its identity at every site) and its path there."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    path: str
    size: int = Field(ge=0)
    checksum: str

    @field_validator("name", "path")
    @classmethod
    def _safe(cls, value: str) -> str:
        return safe_name(value)  # a manifest from a drive is outside input: no `../x`

    @field_validator("checksum")
    @classmethod
    def _checksum(cls, value: str) -> str:
        Checksum.parse(value)
        return value


class Manifest(BaseModel):
    """What a drive holds, as the source site's catalog recorded it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    format: Literal["sexton-sneakernet/1"] = FORMAT
    site: str = Field(min_length=1)
    store: str  # the drive's store name at the source
    exported_at: datetime
    files: list[ManifestFile]

    @model_validator(mode="after")
    def _unique_names(self) -> Manifest:
        seen: set[str] = set()
        for entry in self.files:
            if entry.name in seen:
                raise ValueError(f"{entry.name!r} is listed twice")
            seen.add(entry.name)
        return self

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "site": self.site,
            "store": self.store,
            "exported_at": iso(self.exported_at),
            "count": len(self.files),
            "bytes": self.bytes,
            "files": [f.model_dump() for f in self.files],
        }


def parse_manifest(data: bytes, where: str) -> Manifest:
    """Read a manifest; a bad one raises ``SneakernetError`` naming the first problem."""
    try:
        return Manifest.model_validate(json.loads(data))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SneakernetError(f"{where}: not a JSON manifest: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        place = ".".join(str(part) for part in first["loc"]) or "top level"
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SneakernetError(f"{where}: {place}: {message}{more}") from None


@dataclass(frozen=True)
class Export:
    """What ``export_manifest`` wrote, and the copies it could not list."""

    manifest: Manifest
    name: str  # the manifest's name on the drive
    unhashed: int  # copies on the drive whose file has no checksum yet: not listed

    def to_json(self) -> dict[str, Any]:
        return {
            "manifest": self.name,
            "site": self.manifest.site,
            "store": self.manifest.store,
            "exported_at": iso(self.manifest.exported_at),
            "files": len(self.manifest.files),
            "bytes": self.manifest.bytes,
            "unhashed": self.unhashed,
        }


def export_manifest(catalog: Catalog, drive: Store, site: str, name: str = MANIFEST_NAME) -> Export:
    """Write onto ``drive`` a manifest of the catalog's present copies there.

    Written through the store layer: under a temporary name, renamed when complete, so a
    drive unplugged half way never carries a manifest that looks whole. Exporting again
    replaces it with the current list.
    """
    entries: list[ManifestFile] = []
    unhashed = 0
    for row in catalog.ls(store=drive.name, state=PRESENT):
        if row.path == name:
            continue  # an earlier manifest that a scan of the drive catalogued
        if row.file.checksum is None or row.path is None:
            unhashed += 1
            continue
        entries.append(
            ManifestFile(
                name=row.file.name, path=row.path, size=row.file.size, checksum=row.file.checksum
            )
        )
    manifest = Manifest(site=site, store=drive.name, exported_at=catalog.clock.now(), files=entries)
    data = json.dumps(manifest.to_json(), indent=1, ensure_ascii=False).encode()
    with drive.write(name, overwrite=True) as writer:
        writer.write(data)
    return Export(manifest, name, unhashed)


# -- importing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Trouble:
    """A listed file that was not ingested, and why."""

    name: str
    problem: Problem
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "problem": self.problem, "detail": self.detail}


@dataclass
class ImportReport:
    """What an import did: the shape of ``sexton sneakernet import --json``."""

    site: str
    drive: str
    destination: str
    listed: int
    ingested: list[ManifestFile] = field(default_factory=list)
    # Already at the destination, verified: an earlier import of this drive, or a transfer.
    held: list[ManifestFile] = field(default_factory=list)
    troubles: list[Trouble] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.troubles

    def count(self, problem: Problem) -> int:
        return sum(1 for t in self.troubles if t.problem == problem)

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "from": self.drive,
            "to": self.destination,
            "listed": self.listed,
            "ingested": len(self.ingested),
            "bytes": sum(f.size for f in self.ingested),
            "already_held": len(self.held),
            "missing": self.count(MISSING),
            "damaged": self.count(DAMAGED),
            "conflicts": self.count(CONFLICT),
            "no_room": self.count(NO_ROOM),
            "problems": [t.to_json() for t in self.troubles],
        }


OnFile = Callable[[ManifestFile], None]

# Copies written at the same time. Each ends with an fsync of the file and of its directory;
# one after another those waits were most of an import's time (as for create_local_clone).
COPIES_AT_ONCE = 4


def import_drive(
    catalog: Catalog,
    manifest: Manifest,
    drive: Store,
    destination: Store,
    deletion_policy: str = DISALLOWED,
    on_file: OnFile = lambda entry: None,
) -> ImportReport:
    """Ingest the manifest's files from ``drive`` into ``destination`` (see the module).

    Copies run in a few threads; deciding, reserving room, registering and reporting happen
    here, in the manifest's order.
    """
    importer = _Importer(catalog, manifest, drive, destination, deletion_policy)
    pending: deque[tuple[ManifestFile, Future[_Copied]]] = deque()
    with ThreadPoolExecutor(COPIES_AT_ONCE, thread_name_prefix="sexton-import") as pool:
        for entry in manifest.files:
            if importer.wanted(entry):
                pending.append((entry, pool.submit(importer.copy, entry)))
            else:
                on_file(entry)
            while pending and (len(pending) >= COPIES_AT_ONCE or pending[0][1].done()):
                done, copied = pending.popleft()
                importer.settle(done, copied.result())
                on_file(done)
        for done, copied in pending:
            importer.settle(done, copied.result())
            on_file(done)
    return importer.report


@dataclass(frozen=True)
class _Copied:
    """How copying one file ended: ``problem`` None means a verified copy is in place."""

    problem: Problem | None = None
    detail: str = ""


class _Importer:
    def __init__(
        self, catalog: Catalog, manifest: Manifest, drive: Store, destination: Store, policy: str
    ) -> None:
        self.catalog = catalog
        self.site = manifest.site
        self.drive = drive
        self.destination = destination
        self.policy = policy
        self.report = ImportReport(self.site, drive.name, destination.name, len(manifest.files))
        self.full: str | None = None  # why the destination took no more, once it is full
        # Bytes the catalog holds there plus those reserved for copies under way: what
        # `capacity` is measured against, as for clones.
        self.used = catalog.store_used(destination.name)

    def wanted(self, entry: ManifestFile) -> bool:
        """Whether ``entry`` is to be copied (its room is then reserved); if not, why not is
        recorded."""
        if self.full is not None:
            self._trouble(entry, NO_ROOM, self.full)
            return False
        standing = self.catalog.standing(
            entry.name, entry.size, entry.checksum, self.destination.name
        )
        if standing == "held":
            self.report.held.append(entry)
            return False
        if standing == "conflict":
            self._trouble(entry, CONFLICT, "the catalog holds this name with other content")
            return False
        found = self.drive.info(entry.path)
        if found is None:
            self._trouble(entry, MISSING, f"not on {self.drive.name}")
            return False
        if found.size != entry.size:
            self._trouble(entry, DAMAGED, f"{found.size} bytes on the drive, {entry.size} listed")
            return False
        if not self.destination.has_room_for(entry.size, self.used):
            self.full = f"store {self.destination.name} is full"
            self._trouble(entry, NO_ROOM, self.full)
            return False
        self.used += entry.size
        return True

    def copy(self, entry: ManifestFile) -> _Copied:
        """Copy one file, hashing as it goes (in a pool thread: store work only)."""
        expected = Checksum.parse(entry.checksum)
        try:
            with self.drive.open_read(entry.path) as f:
                self.destination.write_from(
                    entry.name, f, [expected.algo], expected, size=entry.size
                )
        except ChecksumMismatch as exc:
            return _Copied(DAMAGED, f"checksum {exc.actual} on the drive")
        except FileNotFoundError:
            return _Copied(MISSING, f"vanished from {self.drive.name}")
        except AlreadyExists:
            return self._adopt(entry, expected)
        except StoreFull as exc:
            return _Copied(NO_ROOM, str(exc))
        except OSError as exc:  # a bad sector reads as EIO: this file, not the whole drive
            return _Copied(DAMAGED, f"unreadable on the drive: {exc}")
        return _Copied()

    def _adopt(self, entry: ManifestFile, expected: Checksum) -> _Copied:
        """A file already under the name at the destination: the copy of an import killed
        between rename and registration, or someone else's file. Its hash tells which."""
        with self.destination.open_read(entry.name) as f:
            _size, found = hash_stream(f, [expected.algo])
        if found[expected.algo] != expected:
            detail = f"{self.destination.name} already has another file under this name"
            return _Copied(CONFLICT, detail)
        return _Copied()

    def settle(self, entry: ManifestFile, copied: _Copied) -> None:
        """Register a verified copy, or record why there is none."""
        if copied.problem is None:
            self._register(entry)
            return
        self.used -= entry.size
        if copied.problem == NO_ROOM:
            self.full = copied.detail
        self._trouble(entry, copied.problem, copied.detail)

    def _register(self, entry: ManifestFile) -> None:
        info = self.destination.info(entry.name)
        arrival = Arrival(
            name=entry.name,
            size=entry.size,
            checksum=entry.checksum,
            store=self.destination.name,
            path=entry.name,
            source=f"sneakernet:{self.site}",
            deletion_policy=self.policy,
            mtime=info.mtime if info is not None else None,
        )
        try:
            self.catalog.ingest(arrival)
        except ArrivalConflict as exc:
            self.used -= entry.size
            self._trouble(entry, CONFLICT, str(exc))
            return
        self.report.ingested.append(entry)

    def _trouble(self, entry: ManifestFile, problem: Problem, detail: str) -> None:
        self.report.troubles.append(Trouble(entry.name, problem, detail))


def read_manifest_from(drive: Store, name: str) -> Manifest:
    """The manifest ``name`` on ``drive``."""
    try:
        with drive.open_read(name) as f:
            data = f.read()
    except FileNotFoundError:
        raise SneakernetError(f"no manifest {name!r} on store {drive.name}") from None
    return parse_manifest(data, f"{drive.name}:{name}")


# -- telling the source ----------------------------------------------------------------------


@dataclass
class Notified:
    """The source's answers to ``notify_source``, counted by result."""

    site: str
    results: dict[str, int] = field(default_factory=dict)  # confirmed, mismatch, unknown, ...

    def to_json(self) -> dict[str, Any]:
        return {"site": self.site, **self.results}


def notify_source(client: SiteClient, me: str, report: ImportReport) -> Notified:
    """Tell the source every file this site now holds verified from the drive (ingested now
    or before: a repeated notice is harmless, a lost one would leave a copy uncounted)."""
    held = report.ingested + report.held
    notified = Notified(client.name)
    for start in range(0, len(held), MAX_BATCH):
        confirmations = [
            Confirmation(name=f.name, store=report.destination, checksum=f.checksum)
            for f in held[start : start + MAX_BATCH]
        ]
        for answer in client.confirm(me, confirmations).files:
            notified.results[answer.result] = notified.results.get(answer.result, 0) + 1
    return notified
