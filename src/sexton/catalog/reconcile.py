"""Bringing the catalog up to date with a listing of a store, incrementally and in batches.

Memory stays flat whatever the store's size: the listing is consumed in batches, each
looked up and written on its own. Finding vanished files needs no set of every name seen:
the copies the catalog expects are counted, and only when the count disagrees with what
the listing found is the store listed a second time, stamping each copy, so that the
unstamped ones can be marked missing. An unchanged rescan therefore writes nothing at all.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import islice

from sqlalchemy import Engine

from sexton.checksums import Checksum
from sexton.clock import Clock
from sexton.collector import rare_collections
from sexton.db import commit_without_waiting, reading
from sexton.db.checkpoints import background_checkpoints
from sexton.stores import EntryInfo

from . import scanned
from .records import ReconcileReport
from .scanned import LISTED_STATES, Known, Observed, Recorded
from .scope import Scope

# Entries per transaction: large enough that per-statement costs vanish, small enough that a
# SQLite write lock is held for milliseconds and a batch of names fits in one IN list.
BATCH_SIZE = 5000

# Batches a store's first listing writes at once on PostgreSQL, each in a transaction of its
# own. The server's inserts are nine tenths of a first scan and take one core; with two
# writers, 200,000 new files took 2.9 s instead of 4.1 s on two cores. A third gained nothing.
# SQLite has one writer at a time.
FIRST_SCAN_WRITERS = 2

# Hashes a batch of entries; yields each with its checksum, or None if it could not be read.
Hasher = Callable[[Sequence[EntryInfo]], Iterator[tuple[EntryInfo, Checksum | None]]]
# Lists the store (again, if a sweep is needed): a callable, because a listing is one-shot.
Listing = Callable[[], Iterable[EntryInfo]]
# Told after each batch: entries handled, bytes hashed.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ScanPlan:
    """How to treat a listing of one store."""

    store: str
    source: str  # written on new files: "scan:STORE", "import:STORE"
    scope: Scope = Scope()
    # Entries modified after this POSIX time are still being written: left for a later scan.
    newer_than_skip: float | None = None
    hasher: Hasher | None = None  # hash new and changed files now; None: size and mtime only
    batch_size: int = BATCH_SIZE
    read_ahead: bool = True  # read the listing in a thread: it mostly waits (network stores)
    # Write batches one after another, in listing order: a listing file may name a file twice,
    # and its later line must win. A walk names each file once, or twice seen alike (prefixes
    # that overlap), so its batches may be written side by side.
    in_order: bool = False


def reconcile(
    engine: Engine,
    clock: Clock,
    plan: ScanPlan,
    listing: Listing,
    progress: Progress = lambda items, nbytes: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[ReconcileReport, bool]:
    """Apply a listing to the catalog; return what changed and whether the pass completed.

    An incomplete pass (``should_stop``) keeps every batch it wrote but concludes nothing
    about vanished files.
    """
    with rare_collections(), background_checkpoints(engine):
        return _reconcile(engine, clock, plan, listing, progress, should_stop)


def _reconcile(
    engine: Engine,
    clock: Clock,
    plan: ScanPlan,
    listing: Listing,
    progress: Progress,
    should_stop: Callable[[], bool],
) -> tuple[ReconcileReport, bool]:
    counts: Counter[str] = Counter()
    unstorable = _Unstorable()
    with reading(engine) as connection:
        # A store's first listing: nothing to look up, every name is new (a concurrent listing
        # of the same store is settled by the inserts' ON CONFLICT).
        first = not scanned.holds_copies(connection, plan.store)

    def walk_listing(unstorable: _Unstorable, *, first: bool, sweep: str | None) -> bool:
        return _pass(
            engine,
            clock,
            plan,
            listing(),
            counts,
            unstorable,
            progress,
            should_stop,
            first=first,
            sweep=sweep,
        )

    complete = walk_listing(unstorable, first=first, sweep=None)
    if first and counts["new"]:
        with engine.begin() as connection:
            scanned.analyse_copies(connection)
    if not complete:
        return _report(counts, unstorable), False
    with reading(engine) as connection:
        expected = scanned.count_listed(connection, plan.store, plan.scope)
    if expected != counts["found"]:
        # Something the catalog expects was not listed: list again, stamping every copy seen,
        # then the copies left unstamped are the vanished ones.
        counts["swept"] = 1
        counts["listed"] = counts["too_young"] = 0  # counted again by the second listing
        unstorable = _Unstorable()
        sweep = uuid.uuid4().hex
        if not walk_listing(unstorable, first=False, sweep=sweep):
            return _report(counts, unstorable), False
        with reading(engine) as connection:
            for ids in scanned.not_swept(connection, plan.store, plan.scope, sweep):
                with engine.begin() as writer:
                    scanned.mark_missing(writer, ids)
                counts["missing"] += len(ids)
    return _report(counts, unstorable), True


def _pass(
    engine: Engine,
    clock: Clock,
    plan: ScanPlan,
    entries: Iterable[EntryInfo],
    counts: Counter[str],
    unstorable: _Unstorable,
    progress: Progress,
    should_stop: Callable[[], bool],
    *,
    first: bool,
    sweep: str | None,
) -> bool:
    """One walk through the listing; ``counts["found"]`` ends as the number of listed copies
    the catalog now holds as present or corrupt. False if stopped before the end.

    ``first``: the store held no copies when the pass began, so no batch is looked up.
    """
    reader = _ReadAhead if plan.read_ahead else _InLine

    def look_up(batch: list[EntryInfo]) -> Recorded | None:
        # Most of a rescan is files listed as the catalog has them: found with one narrow
        # query and a set intersection. Skipped in a store's first listing, in a sweep, which
        # needs every copy's id, and once a pass has found nothing unchanged (every file new),
        # where it would only add a query.
        if (
            first
            or not batch
            or sweep is not None
            or (counts["listed"] and not counts["unchanged"])
        ):
            return None
        with reading(engine) as connection:
            return scanned.listed_as_recorded(connection, plan.store, [e.name for e in batch])

    # One batch at a time, in order, so each batch's lookup sees the rows of the one before.
    # (Looking a batch up in a thread while the next is listed gained nothing once local walks
    # ran in a process of their own, and slowed a PostgreSQL rescan by a sixth: the lookup's
    # thread and the listing fought for the GIL.) A first listing looks nothing up, so its
    # writes may trail behind, on PostgreSQL several at once unless they must keep their order.
    writer = (
        _WriteBehind(engine, 1 if plan.in_order else _first_scan_writers(engine))
        if first
        else _WriteInLine(engine)
    )
    with reader(entries, plan.batch_size) as listing, writer:
        for batch in _in_scope(plan.scope, listing, unstorable):
            if should_stop():
                return False
            hashed_before = counts["hashed_bytes"]
            write = (
                _classify(engine, clock, plan, batch, look_up(batch), counts, first, sweep)
                if batch
                else None
            )
            done = partial(progress, len(batch), counts["hashed_bytes"] - hashed_before)
            writer.submit(write, done)
    return True


def _first_scan_writers(engine: Engine) -> int:
    return FIRST_SCAN_WRITERS if engine.dialect.name == "postgresql" else 1


def _in_scope(
    scope: Scope, listing: Iterable[list[EntryInfo]], unstorable: _Unstorable
) -> Iterator[list[EntryInfo]]:
    """The listing's batches, cut to the scope and to names the catalog can hold; empty ones
    too, so a stop is still heard while a listing holds nothing in scope. Last listing of a
    name wins: a listing file may repeat one, and a batch's inserts may touch each row once
    only (PostgreSQL's ON CONFLICT DO UPDATE)."""
    for listed in listing:
        if not scope.holds_everything:
            listed = [e for e in listed if scope.holds(e.name)]
        if not all(e.name.isascii() for e in listed):
            listed = [e for e in listed if unstorable.admits(e.name)]
        yield list({e.name: e for e in listed}.values())


class _Unstorable:
    """Listed names the catalog cannot hold: bytes that are not UTF-8 (a walk keeps them as
    surrogates; both databases store text as UTF-8). Left out of the catalog, counted, and
    the first few named, escaped, so that an operator can find and rename the files."""

    SHOWN = 10

    def __init__(self) -> None:
        self.count = 0
        self.names: list[str] = []

    def admits(self, name: str) -> bool:
        """Whether ``name`` can be catalogued; if not, it is counted."""
        try:
            name.encode()
        except UnicodeEncodeError:
            self.count += 1
            if len(self.names) < self.SHOWN:
                self.names.append(
                    name.encode(errors="surrogateescape").decode(errors="backslashreplace")
                )
            return False
        return True


class _ReadAhead:
    """Batches of a listing, read by a thread while the caller writes the previous ones.

    Listing is mostly system calls or network waits, and sqlite3 and psycopg release the GIL
    while the database works, so the two overlap on separate cores. At most ``DEPTH`` batches wait,
    so memory stays flat.
    """

    DEPTH = 2

    def __init__(self, entries: Iterable[EntryInfo], size: int) -> None:
        self._queue: queue.Queue[list[EntryInfo] | BaseException] = queue.Queue(self.DEPTH)
        self._closed = threading.Event()
        self._thread = threading.Thread(
            target=self._fill, args=(iter(entries), size), name="scan-listing", daemon=True
        )

    def __enter__(self) -> Iterator[list[EntryInfo]]:
        self._thread.start()
        return self._batches()

    def __exit__(self, *_exc: object) -> None:
        self._closed.set()  # a stopped or failed pass: the thread gives up at its next put
        self._thread.join()

    def _batches(self) -> Iterator[list[EntryInfo]]:
        while True:
            item = self._queue.get()
            if isinstance(item, BaseException):
                raise item  # the listing failed (e.g. the store vanished): the pass fails
            if not item:
                return
            yield item

    def _fill(self, entries: Iterator[EntryInfo], size: int) -> None:
        try:
            while True:
                batch = list(islice(entries, size))
                if not self._put(batch) or not batch:  # an empty batch ends the listing
                    return
        except BaseException as exc:  # handed to the caller's thread, raised there
            self._put(exc)

    def _put(self, item: list[EntryInfo] | BaseException) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False


class _InLine:
    """Batches of a listing, read in the caller's thread between writes."""

    def __init__(self, entries: Iterable[EntryInfo], size: int) -> None:
        self._entries = iter(entries)
        self._size = size

    def __enter__(self) -> Iterator[list[EntryInfo]]:
        return iter(lambda: list(islice(self._entries, self._size)), [])

    def __exit__(self, *_exc: object) -> None:
        pass


def _classify(
    engine: Engine,
    clock: Clock,
    plan: ScanPlan,
    batch: list[EntryInfo],
    recorded: Recorded | None,
    counts: Counter[str],
    first: bool,
    sweep: str | None,
) -> _BatchWrite | None:
    """Count the batch, hash what needs it, and say what to write (None: nothing)."""
    if recorded is not None:  # set aside what is listed as recorded: nothing to do for it
        to_look_at = [e for e in batch if e not in recorded]
        unchanged = len(batch) - len(to_look_at)
        counts["listed"] += unchanged
        counts["found"] += unchanged
        counts["unchanged"] += unchanged
        batch = to_look_at
        if not batch:
            return None
    counts["listed"] += len(batch)
    known: dict[str, Known] = {}
    if not first:  # a store's first listing: every name is new
        with reading(engine) as connection:
            known = scanned.known_instances(connection, plan.store, [e.name for e in batch])
    new: list[EntryInfo] = []
    changed: dict[str, Known] = {}
    reappeared: list[int] = []
    kept: list[Known] = []  # left as they are (unchanged, or still being written)
    for entry in batch:
        record = known.get(entry.name)
        if _too_young(plan, entry) and (record is None or _differs(record, entry)):
            counts["too_young"] += 1
            if record is not None:
                kept.append(record)
        elif record is None:
            new.append(entry)
        elif _differs(record, entry):
            changed[entry.name] = record
        elif record.state in LISTED_STATES:
            kept.append(record)
        else:
            reappeared.append(record.instance_id)
    observed = list(_observe(plan, [*new, *(e for e in batch if e.name in changed)], counts))
    added = [o for o in observed if o.entry.name not in changed]
    rewritten = [(changed.pop(o.entry.name), o) for o in observed if o.entry.name in changed]
    kept += changed.values()  # changed but unreadable: left for the next scan
    still_listed = [k.instance_id for k in kept if k.state in LISTED_STATES]
    counts["found"] += len(added) + len(rewritten) + len(reappeared) + len(still_listed)
    counts["new"] += len(added)
    counts["changed"] += len(rewritten)
    counts["reappeared"] += len(reappeared)
    if not (added or rewritten or reappeared or (sweep and still_listed)):
        return None  # an unchanged batch costs one read and no write
    return _BatchWrite(
        plan.store,
        plan.source,
        sweep,
        clock.now(),
        scanned.new_copies(added, engine.dialect.name),
        rewritten,
        reappeared,
        still_listed,
    )


@dataclass(frozen=True)
class _BatchWrite:
    """What one batch changes in the catalog, written in one transaction."""

    store: str
    source: str
    sweep: str | None
    now: datetime
    added: scanned.NewCopies
    rewritten: list[tuple[Known, Observed]]
    reappeared: list[int]
    swept: list[int]  # still listed as recorded: stamped by a sweep

    def apply(self, engine: Engine, expect_conflicts: bool) -> bool:
        """Write it; True if new files were merged with ones already catalogued."""
        with engine.begin() as connection:
            # A batch lost to a crash is found again by the next scan; waiting took a twelfth
            # of a first scan.
            commit_without_waiting(connection)
            merged = scanned.add_new(
                connection,
                self.store,
                self.added,
                self.now,
                self.source,
                self.sweep,
                expect_conflicts=expect_conflicts,
            )
            scanned.record_changed(connection, self.rewritten, self.now, self.sweep)
            scanned.record_reappeared(connection, self.reappeared, self.now, self.sweep)
            if self.sweep is not None:
                scanned.record_swept(connection, self.swept, self.sweep)
        return merged


class _WriteInLine:
    """Each batch written before the next is looked at."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._merged = False  # conflicts met once are expected for the rest of the pass

    def __enter__(self) -> _WriteInLine:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_exc: object) -> None:
        pass

    def submit(self, write: _BatchWrite | None, done: Callable[[], None]) -> None:
        """Write the batch (if anything changed), then tell ``done``."""
        self._write(write)
        done()

    def _write(self, write: _BatchWrite | None) -> None:
        if write is not None and write.apply(self._engine, self._merged):
            self._merged = True


class _WriteBehind(_WriteInLine):
    """Each batch written in a thread while the caller lists and prepares the next.

    In a first scan on PostgreSQL the server's inserts are most of the time, and psycopg lets
    go of the GIL while it waits for them, so preparing the next batch costs nothing. At most
    ``writers`` batches wait; each one's ``done`` is told once it and every batch before it
    are committed. A failed write is raised at a later submit, or on leaving.
    """

    def __init__(self, engine: Engine, writers: int = 1) -> None:
        super().__init__(engine)
        self._writers = writers
        self._writing = ThreadPoolExecutor(writers, thread_name_prefix="scan-writer")
        self._pending: deque[tuple[Future[None], Callable[[], None]]] = deque()

    def __exit__(self, exc_type: type[BaseException] | None, *_exc: object) -> None:
        try:
            if exc_type is None:
                while self._pending:  # a stopped pass keeps every batch it handed over
                    self._finish_oldest()
        finally:
            self._writing.shutdown()  # a failing pass still waits for its last writes

    def submit(self, write: _BatchWrite | None, done: Callable[[], None]) -> None:
        while len(self._pending) >= self._writers:
            self._finish_oldest()
        self._pending.append((self._writing.submit(self._write, write), done))

    def _finish_oldest(self) -> None:
        future, done = self._pending.popleft()
        future.result()
        done()


def _observe(plan: ScanPlan, entries: list[EntryInfo], counts: Counter[str]) -> Iterator[Observed]:
    """The entries with their checksums when hashing; unreadable ones are left out."""
    if plan.hasher is None or not entries:
        yield from (Observed(e, None) for e in entries)
        return
    for entry, checksum in plan.hasher(entries):
        if checksum is None:
            counts["unreadable"] += 1
            continue
        counts["hashed_bytes"] += entry.size
        yield Observed(entry, checksum)


def _differs(record: Known, entry: EntryInfo) -> bool:
    return record.size != entry.size or record.mtime != entry.mtime


def _too_young(plan: ScanPlan, entry: EntryInfo) -> bool:
    limit = plan.newer_than_skip
    return limit is not None and entry.mtime is not None and entry.mtime > limit


def _report(counts: Counter[str], unstorable: _Unstorable) -> ReconcileReport:
    return ReconcileReport(
        listed=counts["listed"],
        new=counts["new"],
        changed=counts["changed"],
        reappeared=counts["reappeared"],
        missing=counts["missing"],
        too_young=counts["too_young"],
        unreadable=counts["unreadable"],
        unstorable=unstorable.count,
        unstorable_names=tuple(unstorable.names),
        hashed_bytes=counts["hashed_bytes"],
        swept=bool(counts["swept"]),
    )
