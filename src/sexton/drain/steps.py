"""The drain's state machine: pack, then per series manifest, transfer, verify, tombstone,
delete, each committed before the next starts.

Every step can be cut short at any instant and done again: checksums and copies are
recorded per file, a copy is written to a temporary name and renamed (so a half-written
file never sits under its final name), the MANIFEST is rewritten whole, and a source file
is deleted only after its tombstone and its copy have been checked once more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NoReturn

from ..checksums import Checksum
from ..stores import ChecksumMismatch, EntryInfo, Store, StoreError
from ..tasks.base import RunContext, TaskFailed, TaskInterrupted
from ..tasks.scan import store_hasher
from .manifest import render_manifest
from .packing import candidates, group, packed_files, series_name
from .records import (
    DELETE,
    DONE,
    MANIFEST,
    TOMBSTONE,
    TRANSFER,
    VERIFY,
    DrainBook,
    Series,
    SeriesFile,
)

# Files hashed per database commit: a kill loses at most this many checksums' work.
HASH_BATCH = 64

VerifyMode = Literal["checksum", "size"]


class SeriesError(Exception):
    """Something a person must look at in one series; ``resume`` is where it starts again."""

    def __init__(self, message: str, resume: str) -> None:
        super().__init__(message)
        self.resume = resume


@dataclass(frozen=True)
class DrainPlan:
    """What to drain from where to where, as the task's parameters say."""

    task: str
    source: Store
    destination: Store
    prefix: str | None
    max_size: int
    naming: str
    min_age: timedelta | None
    verify: VerifyMode
    algorithm: str


def ready_to_pack(
    plan: DrainPlan, book: DrainBook, now: datetime, finishing: bool
) -> list[list[EntryInfo]]:
    """The source files ready to go, grouped as the series packing records now (a plan of
    the drain lists the same groups)."""
    try:
        listing = list(plan.source.walk([plan.prefix] if plan.prefix else None))
    except StoreError as exc:
        raise TaskFailed(str(exc)) from None
    ready = candidates(
        listing,
        prefix=plan.prefix,
        draining=book.draining_paths(plan.task),
        written_before=(now - plan.min_age).timestamp() if plan.min_age else None,
        finishing=finishing,
    )
    return list(group(ready, plan.max_size, finishing))


class Drainer:
    """Does the steps of one drain task within one run."""

    def __init__(
        self,
        plan: DrainPlan,
        book: DrainBook,
        ctx: RunContext,
        retry_at: Callable[[], datetime | None],
    ) -> None:
        self.plan = plan
        self.book = book
        self.ctx = ctx
        self.retry_at = retry_at  # when the engine's retry policy will run the task again

    # -- packing ---------------------------------------------------------------------------

    def pack(self, finishing: bool) -> None:
        """Record new series for the files ready to go (PACKED)."""
        plan = self.plan
        now = self.ctx.now()
        for entries in ready_to_pack(plan, self.book, now, finishing):
            serial = self.book.next_serial(plan.task)
            name = series_name(plan.naming, plan.task, now, serial)
            files = packed_files(name, entries, plan.prefix)
            series = self.book.add_series(plan.task, serial, name, files, now)
            self.ctx.event("packed", series=name, files=len(files), bytes=series.size)

    # -- the steps of one series -----------------------------------------------------------

    def complete(self, series: Series) -> None:
        """Take a series through its remaining steps to done."""
        steps: dict[str, Callable[[Series], str]] = {
            MANIFEST: self.manifest,
            TRANSFER: self.transfer,
            VERIFY: self.verify,
            TOMBSTONE: self.tombstone,
            DELETE: self.delete,
        }
        state = series.state
        while state != DONE:
            self._stop_if_asked()
            state = steps[state](series)
            self.book.advance(series, state, self.ctx.now())
        self.ctx.event("drained", series=series.name, files=series.files, bytes=series.size)

    def manifest(self, series: Series) -> str:
        """Hash the source files, then write the MANIFEST beside the series."""
        files = self._present(series)
        todo = [f for f in files if f.checksum is None]
        hasher = store_hasher(self.plan.source, self.plan.algorithm)
        by_path = {f.path: f for f in todo}
        for start in range(0, len(todo), HASH_BATCH):
            self._stop_if_asked()
            batch = todo[start : start + HASH_BATCH]
            found = []
            for entry, checksum in hasher([EntryInfo(f.path, f.size, None) for f in batch]):
                packed = by_path[entry.name]
                if checksum is None:
                    raise SeriesError(f"{entry.name}: cannot read it from the source", MANIFEST)
                if entry.size != packed.size:
                    raise SeriesError(
                        f"{entry.name}: {entry.size} bytes now, {packed.size} when packed "
                        "(still being written? raise min_age)",
                        MANIFEST,
                    )
                found.append((packed.id, checksum))
            self.book.set_checksums(found)
        files = self._present(series)
        text = render_manifest(series.name, [(f.target, f.checksum) for f in files if f.checksum])
        try:
            destination = self.plan.destination
            with destination.write(
                series.manifest_name, (self.plan.algorithm,), overwrite=True
            ) as out:
                out.write(text)
        except (StoreError, OSError) as exc:
            self._retry_later(series, f"writing {series.manifest_name}: {exc}")
        return TRANSFER

    def transfer(self, series: Series) -> str:
        """Copy each file not yet copied; the store checks it against the manifest."""
        for f in self._present(series):
            if f.copied_at is not None:
                continue
            self._stop_if_asked()
            assert f.checksum is not None  # the manifest step recorded it
            try:
                source = self.plan.source.open_read(f.path)
            except FileNotFoundError:
                raise SeriesError(
                    f"{f.path}: gone from the source before transfer", MANIFEST
                ) from None
            try:
                with source:
                    self.plan.destination.write_from(
                        f.target, source, (), f.checksum, size=f.size, overwrite=True
                    )
            except ChecksumMismatch as exc:
                raise SeriesError(f"{f.path} changed since its manifest: {exc}", MANIFEST) from None
            except (StoreError, OSError) as exc:
                self._retry_later(series, f"transferring {f.path}: {exc}")
            self.book.set_copied(f.id, self.ctx.now())
            self.ctx.progress(items=1, bytes=f.size)
        return VERIFY

    def verify(self, series: Series) -> str:
        """Read the copies back (or ask their sizes) and compare with the manifest."""
        files = self._present(series)
        if self.plan.verify == "size":
            for f in files:
                self._check_copy(f, self._copy_info(series, f))
            return TOMBSTONE
        # The manifest's algorithm, which the task's `checksum:` may no longer name.
        algorithms = {f.checksum.algo for f in files if f.checksum is not None}
        hasher = store_hasher(self.plan.destination, min(algorithms, default=self.plan.algorithm))
        by_target = {f.target: f for f in files}
        for start in range(0, len(files), HASH_BATCH):
            self._stop_if_asked()
            batch = files[start : start + HASH_BATCH]
            for entry, checksum in hasher([EntryInfo(f.target, f.size, None) for f in batch]):
                f = by_target[entry.name]
                if checksum is None:  # unreadable: gone (a finding) or a passing fault
                    self._check_copy(f, self._copy_info(series, f))
                    self._retry_later(series, f"reading back {f.target} failed")
                self._check_copy(f, entry, checksum)
        return TOMBSTONE

    def tombstone(self, series: Series) -> str:
        """Record for every file where its verified copy is (TOMBSTONE)."""
        self.book.tombstone(series, self.plan.destination.name)
        return DELETE

    def delete(self, series: Series) -> str:
        """Delete each source file whose tombstone and copy still hold, checked just before."""
        for f in self._present(series):
            self._stop_if_asked()
            fresh = self.book.file(f.id)
            if fresh.tombstone is None:
                raise SeriesError(f"{f.path}: no tombstone, not deleting it", VERIFY)
            self._check_copy(fresh, self._copy_info(series, fresh))
            now_there = self._info(self.plan.source, series, f.path)
            if now_there is not None and now_there.size != f.size:
                raise SeriesError(f"{f.path} changed since it was copied; not deleted", MANIFEST)
            try:
                self.plan.source.delete(f.path, missing_ok=True)
            except (StoreError, OSError) as exc:
                self._retry_later(series, f"deleting {f.path}: {exc}")
            self.book.set_deleted(f.id, self.ctx.now())
        return DONE

    # -- helpers ---------------------------------------------------------------------------

    def _present(self, series: Series) -> list[SeriesFile]:
        """The series' files still in the source (deleted ones were verified before)."""
        return [f for f in self.book.files_of(series.id) if f.deleted_at is None]

    def _copy_info(self, series: Series, f: SeriesFile) -> EntryInfo | None:
        return self._info(self.plan.destination, series, f.target)

    def _info(self, store: Store, series: Series, name: str) -> EntryInfo | None:
        try:
            return store.info(name)
        except (StoreError, OSError) as exc:
            self._retry_later(series, f"looking at {store.name}:{name}: {exc}")

    def _check_copy(
        self,
        f: SeriesFile,
        copy: EntryInfo | None,
        checksum: Checksum | None = None,
    ) -> None:
        """Raise ``SeriesError`` unless the copy exists with the manifest's size (and sum)."""
        where = f"{self.plan.destination.name}:{f.target}"
        if copy is None:
            raise SeriesError(f"{where}: the copy is missing", TRANSFER)
        if copy.size != f.size:
            raise SeriesError(f"{where}: {copy.size} bytes, the manifest says {f.size}", TRANSFER)
        if checksum is not None and checksum != f.checksum:
            raise SeriesError(
                f"{where}: checksum {checksum}, the manifest says {f.checksum}", TRANSFER
            )

    def _retry_later(self, series: Series, error: str) -> NoReturn:
        """A passing fault (store down, full, read-only): fail the run so the engine's
        retry policy runs it again, and show when in `sexton drain status`."""
        self.book.record_retry(series, error, self.retry_at(), self.ctx.now())
        raise TaskFailed(f"series {series.name}: {error}")

    def _stop_if_asked(self) -> None:
        if self.ctx.should_stop():
            raise TaskInterrupted("stopped between steps; the next run resumes the drain")
