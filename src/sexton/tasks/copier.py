"""Making verified copies on destination stores: the one copier that ``create_local_clone``
and ``replicate`` share.

Each copy is hashed while written to a temporary name and renamed only when its checksum
equals the catalog's, then registered; a kill at any moment leaves either a temporary file
(never registered, never under a final name) or a complete copy, which the next run finds
under its final name, verifies and registers. Several files are copied at once: each copy
waits on its own fsync, and overlapping them keeps the disks and the hashing busy together.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass, field
from enum import Enum

from ..catalog import Copy, VerifiedCopy
from ..checksums import Checksum, hash_stream
from ..sizes import format_size
from ..stores import AlreadyExists, ChecksumMismatch, Store, StoreError, StoreFull
from .base import NeedsAttention, RunContext, TaskFailed
from .verify import Checked, check_copies

# Copies written at the same time. Each ends with an fsync of the file and its directory;
# serially those waits dominate (twice the time of `cp -r` + `sync` measured here), while a
# few in flight let the filesystem commit them together.
COPIES_AT_ONCE = 4
# Copies started but not yet recorded: twice the writers, so that while the run's thread
# records finished copies the writers already have the next ones.
COPIES_IN_FLIGHT = 2 * COPIES_AT_ONCE


class _Written(Enum):
    """How writing one copy ended; the run's thread records it."""

    COPIED = "copied"
    SOURCE_GONE = "source gone"
    MISMATCH = "mismatch"
    EXISTS = "exists"


@dataclass
class Wanted:
    """New copies of one file: ``copies`` of them from ``source`` (a copy whose checksum was
    verified), each on another destination, none on ``avoid``. The copier adds to ``avoid``
    each destination it chooses, so the copies of one file never share a store."""

    source: Copy
    copies: int = 1
    avoid: set[str] = field(default_factory=set)


class Copier:
    """The destinations still open for this run, their used bytes, and what went wrong.

    Writing happens in a small pool of threads; choosing destinations, reserving room and
    recording outcomes happen in the run's thread, as each copy finishes.
    """

    def __init__(self, ctx: RunContext, destinations: list[Store], disable_on_full: bool) -> None:
        self.ctx = ctx
        self.destinations = [d.name for d in destinations]
        overrides = ctx.catalog.store_overrides()
        self.open = [d for d in destinations if overrides.get(d.name, d.enabled)]
        # Bytes held, plus those reserved by copies in flight (released if one fails). Only a
        # store with a ``capacity`` is measured by them: summing the catalog for the others
        # would cost a pass over their copies for every shard of a fanned-out run, for nothing.
        self.used: dict[str, int] = {
            d.name: ctx.catalog.store_used(d.name) if d.settings.capacity is not None else 0
            for d in self.open
        }
        self.disable_on_full = disable_on_full
        self.done = 0
        self.source_damage = Checked()
        self.conflicts: list[str] = []  # a different file already under the name: left alone
        self.bad_copies = 0  # copies that failed their checksum while the source is fine
        self.unplaced = 0  # copies wanted with every open destination already holding the file
        self._pending: dict[Future[_Written], tuple[Wanted, Store]] = {}

    def copy_all(self, todo: Iterable[Wanted]) -> None:
        """Put the wanted copies of each file on the first open destinations with room.

        On a failure, the copies in flight finish and those that completed are registered
        before the error goes up; any other outcome of theirs is left to the next run.
        """
        with ThreadPoolExecutor(COPIES_AT_ONCE, thread_name_prefix="sexton-clone") as pool:
            try:
                for wanted in todo:
                    if self.ctx.should_stop():
                        break
                    for _ in range(wanted.copies):
                        self._start(pool, wanted)
                    while len(self._pending) >= COPIES_IN_FLIGHT:
                        self._settle_finished(pool)
                while self._pending:
                    self._settle_finished(pool)
            except BaseException:
                self._register_completed()
                raise

    def _register_completed(self) -> None:
        while self._pending:
            future, (wanted, destination) = self._pending.popitem()
            with suppress(Exception):  # the error that stopped the run is the one to report
                if future.result() is _Written.COPIED:
                    self._register([self._verified(wanted.source, destination)])

    def _start(self, pool: ThreadPoolExecutor, wanted: Wanted) -> None:
        copy = wanted.source
        destination = self._place(wanted)
        if destination is None:
            self.unplaced += 1
            return
        wanted.avoid.add(destination.name)
        self.used[destination.name] += copy.size
        future = pool.submit(self._write, copy, self._source(copy), destination)
        self._pending[future] = (wanted, destination)

    def _source(self, copy: Copy) -> Store:
        try:
            return self.ctx.stores[copy.store]
        except StoreError as exc:
            raise TaskFailed(str(exc)) from None

    def _place(self, wanted: Wanted) -> Store | None:
        """The first open destination with room for the file that does not hold it yet (None
        if every open one does); full ones are dealt with."""
        copy = wanted.source
        while True:
            if not self.open:
                raise TaskFailed(
                    "no destination left: every one of "
                    f"{', '.join(self.destinations)} is full or disabled"
                )
            candidates = [d for d in self.open if d.name not in wanted.avoid]
            if not candidates:
                return None
            destination = candidates[0]
            if destination.has_room_for(copy.size, self.used[destination.name]):
                return destination
            self._full(destination, f"no room for {copy.name} ({format_size(copy.size)})")

    def _write(self, copy: Copy, source: Store, destination: Store) -> _Written:
        """Copy, hashing as written; runs in a pool thread and touches no records."""
        assert copy.checksum is not None  # sources are copies of hashed files only
        expected = Checksum.parse(copy.checksum)
        try:
            with source.open_read(copy.path) as f:
                destination.write_from(copy.name, f, [expected.algo], expected, size=copy.size)
        except FileNotFoundError:
            return _Written.SOURCE_GONE
        except ChecksumMismatch:
            return _Written.MISMATCH
        except AlreadyExists:
            return _Written.EXISTS
        return _Written.COPIED

    def _settle_finished(self, pool: ThreadPoolExecutor) -> None:
        """Record how the copies that have finished ended, waiting for one if none has. In
        the order they finish, not the order they started: waiting for the oldest left the
        other threads idle behind every big file (a 1 GiB copy ran nearly alone)."""
        finished, _ = wait(self._pending, return_when=FIRST_COMPLETED)
        verified: list[VerifiedCopy] = []
        try:
            for future in finished:
                wanted, destination = self._pending.pop(future)
                if self._settle(pool, wanted, destination, future):
                    verified.append(self._verified(wanted.source, destination))
        finally:
            self._register(verified)

    def _settle(
        self, pool: ThreadPoolExecutor, wanted: Wanted, destination: Store, future: Future[_Written]
    ) -> bool:
        """Deal with how one finished copy ended; True when it is a verified copy to record."""
        copy = wanted.source
        try:
            written = future.result()
        except StoreFull as exc:  # the device filled up under us (ENOSPC)
            self.used[destination.name] -= copy.size
            self._full(destination, str(exc))
            self._start(pool, wanted)
            return False
        except BaseException:
            self.used[destination.name] -= copy.size
            raise
        if written is _Written.COPIED:
            return True
        self.used[destination.name] -= copy.size  # given back; re-added if adopted
        assert copy.checksum is not None
        expected = Checksum.parse(copy.checksum)
        if written is _Written.EXISTS:
            return self._adopt(copy, destination, expected)
        if written is _Written.MISMATCH:
            self._recheck_source(copy, expected.algo)
        else:
            self.ctx.catalog.mark_missing([copy.instance_id], self.ctx.run_id)
            self.source_damage.missing.append(copy)
            self.ctx.event("missing", store=copy.store, path=copy.path)
        return False

    def _adopt(self, copy: Copy, destination: Store, expected: Checksum) -> bool:
        """A file already under the final name: a copy an earlier run completed but did not
        register (killed between rename and record), or someone else's file. Hash it to tell."""
        with destination.open_read(copy.name) as f:
            _size, found = hash_stream(f, [expected.algo])
        if found[expected.algo] == expected:
            self.used[destination.name] += copy.size
            return True
        self.conflicts.append(f"{destination.name}:{copy.name}")
        self.ctx.event(
            "conflict", store=destination.name, path=copy.name, found=found[expected.algo]
        )
        return False

    def _recheck_source(self, copy: Copy, algo: str) -> None:
        """The copy did not match: if the source itself changed, it is flagged corrupt."""
        before = len(self.source_damage.corrupt) + len(self.source_damage.missing)
        check_copies(self.ctx, self._source(copy), [copy], algo, self.source_damage)
        if len(self.source_damage.corrupt) + len(self.source_damage.missing) == before:
            self.bad_copies += 1
            self.ctx.event(
                "copy mismatch", path=copy.name, source="verified again, left for the next run"
            )

    def _verified(self, copy: Copy, destination: Store) -> VerifiedCopy:
        info = destination.info(copy.name)
        mtime = info.mtime if info is not None else None
        return VerifiedCopy(copy, destination.name, mtime)

    def _register(self, verified: list[VerifiedCopy]) -> None:
        """Record verified copies in one transaction; their bytes stay counted in ``used``."""
        if not verified:
            return
        self.ctx.catalog.register_copies(verified)
        self.done += len(verified)
        self.ctx.progress(items=len(verified), bytes=sum(v.original.size for v in verified))

    def _full(self, destination: Store, why: str) -> None:
        if destination not in self.open:  # copies in flight to it found it full as well
            return
        if not self.disable_on_full:
            raise TaskFailed(
                f"store {destination.name} is full ({why}); free space, or set "
                "disable_store_on_full to move on to the next destination"
            )
        self.ctx.catalog.set_store_enabled(destination.name, False, f"full: {why}")
        self.ctx.event("store disabled", store=destination.name, reason=why)
        self.open.remove(destination)

    def counts(self) -> dict[str, int]:
        return {
            "copied": self.done,
            "source_corrupt": len(self.source_damage.corrupt),
            "source_missing": len(self.source_damage.missing),
            "bad_copies": self.bad_copies,
            "conflicts": len(self.conflicts),
        }

    def raise_findings(self) -> None:
        """Damage to the source, or a stranger's file in the way, needs a person."""
        problems = [f"corrupt on {f.copy.store}: {f.copy.path}" for f in self.source_damage.corrupt]
        problems += [f"a different file is already at {c}" for c in self.conflicts]
        if problems:
            raise NeedsAttention("; ".join(problems))
