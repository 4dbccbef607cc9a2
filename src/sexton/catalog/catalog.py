"""The catalog as tasks and the CLI use it: one object over the database, one transaction
per call (or per batch, for listings)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine, Select, func, select

from sexton.checksums import DEFAULT_ALGORITHM, Checksum
from sexton.clock import Clock
from sexton.db import reading
from sexton.db.catalog_tables import files, instances
from sexton.stores import Store, StoreSettings, UnsafePath, safe_name

from . import (
    browse,
    copies,
    deletion,
    events,
    fixity,
    ingest,
    marks,
    repair,
    replication,
    store_state,
)
from .copies import VerifiedCopy
from .deletion import Voucher
from .directories import DirectoryCounts, count_by_directory
from .errors import CatalogError, UnknownFile, UnknownStore
from .events import EventFile, PreservationEvent
from .fixity import Copy, DueKey, Finding, copies_query, fetch_copies
from .ingest import Arrival, Standing
from .listing import read_listing, root_of
from .marks import ORDERS, Order
from .pages import id_ranges, keyset_pages
from .reconcile import Listing, Progress, ScanPlan, reconcile
from .records import (
    PRESENT,
    STATES,
    CatalogStats,
    FileDetail,
    ListedFile,
    NeededFile,
    ReconcileReport,
)
from .repair import Damaged, Sources
from .replication import CopiesPolicy, PolicyPage, ReplicationCounts
from .scope import Scope
from .stats import catalog_stats
from .totals import fold_if_due, read_totals

# Names resolved per query when marking by name: well under every database's parameter limit.
NAME_BATCH = 1000
# Fixity checks forgotten per transaction when the log is trimmed.
FORGET_BATCH = 10_000

FileRefs = Sequence[int] | Sequence[str]  # file ids, or names


@dataclass(frozen=True)
class History:
    """What ``Catalog.history`` reads: the files first (PREMIS lists objects first), then
    the events."""

    files: Iterator[EventFile]
    events: Iterator[PreservationEvent]


class Catalog:
    """Files, their copies on stores, and their marks.

    ``checksum`` is the algorithm new checksums are written in (the config's ``checksum:``).
    """

    def __init__(self, engine: Engine, clock: Clock, checksum: str = DEFAULT_ALGORITHM) -> None:
        self.engine = engine
        self.clock = clock
        self.checksum = checksum

    # -- listings ------------------------------------------------------------------------

    def reconcile(
        self,
        plan: ScanPlan,
        listing: Listing,
        progress: Progress = lambda items, nbytes: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> tuple[ReconcileReport, bool]:
        """Bring the catalog up to date with a listing (see ``reconcile``)."""
        return reconcile(self.engine, self.clock, plan, listing, progress, should_stop)

    def count_by_directory(self, store: str, scope: Scope, depth: int) -> DirectoryCounts:
        """Copies on ``store`` a listing of ``scope`` should find, per directory down to
        ``depth`` (see ``directories``)."""
        with reading(self.engine) as connection:
            return count_by_directory(connection, store, scope, depth)

    def import_listing(
        self, store: str, path: Path, stores: Mapping[str, StoreSettings]
    ) -> ReconcileReport:
        """Apply a ``hadoop fs -ls -R`` or JSON-lines listing of ``store`` like a scan.

        The file is checked to the end before anything is written, so a bad line changes
        nothing.
        """
        if store not in stores:
            raise UnknownStore(f"no store named {store!r} in the config")
        root = root_of(stores[store].url)
        try:
            for _entry in read_listing(path, root):
                pass
        except OSError as exc:
            raise CatalogError(f"cannot read {path}: {exc.strerror or exc}") from None
        plan = ScanPlan(store=store, source=f"import:{store}", in_order=True)
        report, _complete = self.reconcile(plan, lambda: read_listing(path, root))
        return report

    # -- marks ---------------------------------------------------------------------------

    def needs(
        self,
        mark: str,
        value: str | None = None,
        store: str | None = None,
        newer_than: datetime | None = None,
        limit: int | None = None,
        order: Order = "newest",
        failed: bool = False,
    ) -> list[NeededFile]:
        """Files without ``mark`` (or without ``mark=value``), newest first, at most ``limit``.

        With ``store``, only files with a present copy there, each with its path on it.
        Quarantined files (the step failed on them alone) are left out; ``failed`` lists them.
        """
        if order not in ORDERS:
            raise CatalogError(f"bad order {order!r}: expected one of {', '.join(ORDERS)}")
        query = marks.needs_query(marks.check_mark(mark), value, store, newer_than, failed)
        with reading(self.engine) as connection:
            return marks.needed(connection, query, order, limit)

    def quarantined(self, mark: str, value: str | None = None, store: str | None = None) -> int:
        """How many files the step ``mark`` failed on alone and set aside (``needs --failed``)."""
        query = marks.needs_query(marks.check_mark(mark), value, store, None, True)
        with reading(self.engine) as connection:
            return connection.execute(
                select(func.count()).select_from(query.subquery())
            ).scalar_one()

    def mark(self, refs: FileRefs, mark: str, value: str = "") -> None:
        """Mark files, by id or by name; call only once the work the mark stands for is done."""
        marks.check_mark(mark)
        with self.engine.begin() as connection:
            ids = self._ids(connection, refs)
            marks.add_marks(connection, ids, mark, value, self.clock.now())

    def unmark(self, refs: FileRefs, mark: str, value: str | None = None) -> int:
        """Remove ``mark`` (every value, or only ``value``); returns how many marks went."""
        marks.check_mark(mark)
        with self.engine.begin() as connection:
            return marks.remove_marks(connection, self._ids(connection, refs), mark, value)

    # -- looking ---------------------------------------------------------------------------

    def show(self, name: str) -> FileDetail:
        with reading(self.engine) as connection:
            found = browse.detail(connection, _checked(name))
        if found is None:
            raise UnknownFile(f"no file named {name!r} in the catalog")
        return found

    def ls(
        self,
        store: str | None = None,
        needs: tuple[str, str | None] | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> Iterator[ListedFile]:
        """Copies by file name (files without copies too, unless filtered by store or state)."""
        if state is not None and state not in STATES:
            raise CatalogError(f"bad state {state!r}: expected one of {', '.join(STATES)}")
        lacking = None
        if needs is not None:
            mark, value = needs
            lacking = marks.needs_query(marks.check_mark(mark), value, None, None)
        query = browse.listing_query(store, state, lacking, limit)
        with reading(self.engine) as connection:
            yield from browse.listed(connection, query)

    def stats(
        self, stores: Mapping[str, Store], policy: CopiesPolicy | None = None
    ) -> CatalogStats:
        """Totals; with ``policy``, also the under-replicated and lost files."""
        with reading(self.engine) as connection:
            totals = read_totals(connection)
            stats = catalog_stats(connection, totals, stores)
            counts = None if policy is None else replication.replication_counts(connection, policy)
        fold_if_due(self.engine, totals)
        if counts is None:
            return stats
        return dataclasses.replace(
            stats, under_replicated=counts.under_replicated, lost=counts.lost
        )

    def copies_by_store(self, state: str) -> dict[str, int]:
        """Copies in ``state`` on each store holding any, from the maintained totals."""
        with reading(self.engine) as connection:
            totals = read_totals(connection)
        return {store: held.copies for (store, s), held in totals.copies.items() if s == state}

    # -- copies policy -----------------------------------------------------------------------

    def replication_counts(self, policy: CopiesPolicy) -> ReplicationCounts:
        with reading(self.engine) as connection:
            return replication.replication_counts(connection, policy)

    def below_policy(
        self, policy: CopiesPolicy, after_id: int, scan: int, end_id: int | None = None
    ) -> PolicyPage:
        """The files below their copies rule among the next ``scan`` after ``after_id``, up to
        ``end_id`` if given."""
        with reading(self.engine) as connection:
            return replication.below_policy(connection, policy, after_id, scan, end_id)

    def verified_copies(self, file_ids: Sequence[int], stores: Sequence[str]) -> list[Copy]:
        """Copies on ``stores`` verified against their file's checksum: sources to copy from."""
        with reading(self.engine) as connection:
            return replication.verified_copies(connection, file_ids, stores)

    def holders(self, file_ids: Sequence[int]) -> dict[int, set[str]]:
        with reading(self.engine) as connection:
            return replication.holders(connection, file_ids)

    # -- fixity ----------------------------------------------------------------------------

    def due_for_check(
        self,
        store: str,
        verified_before: datetime | None = None,
        created_after: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[list[int]]:
        """Pages of ids of present copies on ``store`` to check, least recently verified
        first. Pass the ``count_due`` of the run's start as ``limit``: a copy checked meanwhile
        moves to the end of the order, and must not be met twice."""

        def page(connection: Connection, after: DueKey | None, size: int) -> list[DueKey]:
            return fixity.due_for_check(
                connection, store, verified_before, created_after, after, size
            )

        for keys in keyset_pages(self.engine, page, lambda key: key, limit):
            yield [key.instance_id for key in keys]

    def count_due(
        self,
        store: str,
        verified_before: datetime | None = None,
        created_after: datetime | None = None,
        limit: int | None = None,
    ) -> int:
        """How many copies are due now (at most ``limit``): a run's total, and its limit."""
        with reading(self.engine) as connection:
            return fixity.count_due(connection, store, verified_before, created_after, limit)

    def forget_old_checks(self, store: str, before: datetime) -> int:
        """Let the fixity log of ``store`` go of matching checks older than ``before`` that
        a later check of the same copy repeats; how many went. In batches, each its own
        transaction, so a long log never holds a lock for long."""
        forgotten = 0
        while True:
            with self.engine.begin() as connection:
                went = fixity.forget_superseded_matches(connection, store, before, FORGET_BATCH)
            forgotten += went
            if went < FORGET_BATCH:
                return forgotten

    def due_id_ranges(
        self,
        store: str,
        size: int,
        verified_before: datetime,
        created_after: datetime | None = None,
        limit: int | None = None,
    ) -> list[tuple[int | None, int]]:
        """Cut the copies due on ``store`` (at most ``limit``) into id ranges ``(after, upto]``
        of ``size`` copies each, streaming the ids rather than holding them."""
        query = fixity.due_in_id_order(store, verified_before, created_after).limit(limit)
        return self._id_ranges(query, size)

    def due_copies_between(
        self,
        store: str,
        after_id: int | None,
        upto_id: int,
        verified_before: datetime,
        created_after: datetime | None = None,
    ) -> list[Copy]:
        """The copies in one id range still due (see ``due_id_ranges``), in id order."""
        query = fixity.due_copies_between(store, verified_before, created_after, after_id, upto_id)
        with reading(self.engine) as connection:
            return fixity.fetch_copies(connection, query)

    def copies(self, instance_ids: Sequence[int]) -> list[Copy]:
        with reading(self.engine) as connection:
            return fixity.copies_by_id(connection, instance_ids)

    # A check's ``run_id`` is the run that made it (None outside a run), for its log entry.

    def record_checks(
        self, checked: Sequence[tuple[Copy, Checksum]], run_id: int | None
    ) -> list[Finding]:
        """Record checksums computed for copies: verified, or corrupt (see ``fixity``)."""
        with self.engine.begin() as connection:
            return fixity.record_checks(connection, checked, self.clock.now(), run_id)

    def mark_missing(self, instance_ids: Sequence[int], run_id: int | None) -> None:
        with self.engine.begin() as connection:
            fixity.mark_missing(connection, instance_ids, self.clock.now(), run_id)

    def record_bad_content(self, copy: Copy, problem: str, run_id: int | None) -> None:
        """A copy that matches its checksum but whose content is damaged (see ``fixity``)."""
        with self.engine.begin() as connection:
            fixity.record_bad_content(connection, copy, problem, self.clock.now(), run_id)

    # -- clones ----------------------------------------------------------------------------

    def uncloned(
        self,
        source: str,
        destinations: Sequence[str],
        created_after: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[list[Copy]]:
        """Pages of copies on ``source`` of hashed files that no destination holds."""

        def page(connection: Connection, after: copies.FileKey | None, size: int) -> list[Copy]:
            return copies.uncloned(connection, source, destinations, created_after, after, size)

        yield from keyset_pages(self.engine, page, copies.file_key, limit)

    def count_uncloned(
        self,
        source: str,
        destinations: Sequence[str],
        created_after: datetime | None = None,
        limit: int | None = None,
    ) -> int:
        with reading(self.engine) as connection:
            return copies.count_uncloned(connection, source, destinations, created_after, limit)

    def uncloned_id_ranges(
        self,
        source: str,
        destinations: Sequence[str],
        size: int,
        created_after: datetime | None = None,
        limit: int | None = None,
    ) -> list[tuple[int | None, int]]:
        """Cut the copies ``uncloned`` would give (at most ``limit``) into id ranges
        ``(after, upto]`` of ``size`` copies each: the shards of a fanned-out clone."""
        query = copies.uncloned_in_id_order(source, destinations, created_after).limit(limit)
        return self._id_ranges(query, size)

    def uncloned_between(
        self,
        source: str,
        destinations: Sequence[str],
        after_id: int | None,
        upto_id: int | None,
        created_after: datetime | None = None,
    ) -> list[Copy]:
        """The copies in one id range still uncloned (see ``uncloned_id_ranges``)."""
        with reading(self.engine) as connection:
            return copies.uncloned_between(
                connection, source, destinations, created_after, after_id, upto_id
            )

    def unhashed(
        self, source: str, destinations: Sequence[str], created_after: datetime | None = None
    ) -> int:
        with reading(self.engine) as connection:
            return copies.unhashed(connection, source, destinations, created_after)

    def store_used(self, store: str) -> int:
        """Bytes of the copies the catalog holds on ``store``: what ``capacity`` is measured by."""
        with reading(self.engine) as connection:
            return read_totals(connection).held(store, copies.HELD_STATES).bytes

    def register_copies(self, verified: Sequence[VerifiedCopy]) -> None:
        """Record copies whose checksums have been matched against their files', at once."""
        with self.engine.begin() as connection:
            copies.register_copies(connection, verified, self.clock.now())

    def move_copies_under(self, store: str, prefix: str) -> int:
        """Every copy on ``store`` is now under the directory ``prefix`` (see ``copies``)."""
        with self.engine.begin() as connection:
            return copies.move_under(connection, store, prefix)

    # -- arrivals --------------------------------------------------------------------------

    def standing(self, name: str, size: int, checksum: str, store: str) -> Standing:
        """Whether an arriving file is ``new``, already ``held`` verified on ``store``, or in
        ``conflict`` with the catalog's record of that name (see ``ingest``)."""
        with reading(self.engine) as connection:
            return ingest.standing(connection, _checked(name), size, checksum, store)

    def ingest(self, arrival: Arrival) -> int:
        """Register a file that arrived verified, with its copy; returns the file's id."""
        _checked(arrival.name)
        with self.engine.begin() as connection:
            return ingest.ingest(connection, arrival, self.clock.now())

    def present_copy(self, store: str, path: str) -> Copy | None:
        """The present copy at ``path`` on ``store``, if the catalog holds one."""
        query = copies_query().where(
            instances.c.store == store, instances.c.path == path, instances.c.state == PRESENT
        )
        with reading(self.engine) as connection:
            found = fetch_copies(connection, query)
        return found[0] if found else None

    def store_overrides(self) -> dict[str, bool]:
        with reading(self.engine) as connection:
            return store_state.store_overrides(connection)

    def set_store_enabled(self, store: str, enabled: bool, reason: str | None = None) -> None:
        with self.engine.begin() as connection:
            store_state.set_store_enabled(connection, store, enabled, reason, self.clock.now())

    # -- deletion --------------------------------------------------------------------------

    def deletable(
        self,
        store: str,
        created_before: datetime,
        needed: int,
        max_verification_age: timedelta | None,
        after_id: int = 0,
        limit: int = NAME_BATCH,
        force: bool = False,
    ) -> list[Copy]:
        """Copies on ``store`` the deletion rule would let go now (see ``deletion``); with
        ``max_verification_age`` None, also those whose copies' verification is too old;
        with ``force``, also those whose deletion policy is ``disallowed``."""
        fresh_after = (
            None if max_verification_age is None else self.clock.now() - max_verification_age
        )
        with reading(self.engine) as connection:
            return deletion.deletable(
                connection, store, created_before, needed, fresh_after, after_id, limit, force
            )

    def vouchers(self, copy: Copy, max_verification_age: timedelta | None) -> list[Voucher]:
        """The copies that vouch for ``copy``'s file now; see ``deletable`` for the age."""
        fresh_after = (
            None if max_verification_age is None else self.clock.now() - max_verification_age
        )
        with reading(self.engine) as connection:
            return deletion.vouchers(connection, copy, fresh_after)

    def other_copies(self, copy: Copy) -> list[Copy]:
        with reading(self.engine) as connection:
            return deletion.other_copies(connection, copy)

    def delete_copy(
        self,
        copy: Copy,
        store: Store,
        needed: int,
        max_verification_age: timedelta,
        force: bool = False,
    ) -> bool:
        """Delete ``copy`` if ``needed`` other copies vouch for it (DESIGN §5, invariant 1)
        and its deletion policy allows it, unless ``force`` overrides the policy."""
        now = self.clock.now()
        fresh_after = now - max_verification_age
        return deletion.delete_copy(self.engine, copy, store, needed, fresh_after, force, now=now)

    # -- history ---------------------------------------------------------------------------

    @contextmanager
    def history(self, since: datetime | None = None) -> Iterator[History]:
        """The preservation events from ``since`` on, and the files they are about, read
        lazily from one connection held open while the caller writes them out."""
        with reading(self.engine) as connection:
            yield History(
                events.files_with_events(connection, since), events.events_since(connection, since)
            )

    # -- repair ----------------------------------------------------------------------------

    def damaged(
        self,
        stores: Sequence[str],
        after_id: int = 0,
        limit: int = NAME_BATCH,
        upto_id: int | None = None,
    ) -> list[Damaged]:
        """Corrupt or missing copies on ``stores`` of hashed files, by id after ``after_id``
        (and up to ``upto_id``, if given)."""
        with reading(self.engine) as connection:
            return repair.damaged_copies(connection, stores, after_id, limit, upto_id)

    def repair_sources(self, damaged: Copy, verified_within: timedelta) -> Sources:
        """The copies verified within ``verified_within`` that may replace ``damaged``."""
        with reading(self.engine) as connection:
            return repair.sources(connection, damaged, self.clock.now() - verified_within)

    def is_lost(self, file_id: int) -> bool:
        with reading(self.engine) as connection:
            return repair.is_lost(connection, file_id)

    def verified_copy(self, name: str) -> Copy | None:
        """The present copy of ``name`` last verified with the file's checksum, if any."""
        with reading(self.engine) as connection:
            return repair.verified_copy(connection, _checked(name))

    def record_repair(
        self,
        damaged: Damaged,
        event: str,
        run_id: int | None,
        source: str | None = None,
        detail: str | None = None,
    ) -> None:
        with self.engine.begin() as connection:
            repair.record_event(
                connection, damaged, event, self.clock.now(), run_id, source, detail
            )

    def record_repaired(
        self, damaged: Damaged, source: str, mtime: float | None, run_id: int | None
    ) -> None:
        """Call only after the rewritten copy's checksum matched the file's as it was written."""
        with self.engine.begin() as connection:
            repair.record_repaired(connection, damaged, source, mtime, self.clock.now(), run_id)

    # -- shards ----------------------------------------------------------------------------

    def _id_ranges(self, ids: Select[int], size: int) -> list[tuple[int | None, int]]:
        """The ids ``ids`` selects (ascending) cut into ranges of ``size``, streamed in one
        read rather than held."""
        with reading(self.engine) as connection:
            result = connection.execution_options(yield_per=10_000).execute(ids).scalars()
            return list(id_ranges(result, size))

    # -- names -----------------------------------------------------------------------------

    def _ids(self, connection: Connection, refs: FileRefs) -> list[int]:
        names = [r for r in refs if isinstance(r, str)]
        ids = [r for r in refs if isinstance(r, int)]
        for start in range(0, len(names), NAME_BATCH):
            chunk = [_checked(n) for n in names[start : start + NAME_BATCH]]
            query = select(files.c.name, files.c.id).where(files.c.name.in_(chunk))
            found: dict[str, int] = dict(connection.execute(query).all())
            for name in chunk:
                if name not in found:
                    raise UnknownFile(f"no file named {name!r} in the catalog")
                ids.append(found[name])
        return ids


def _checked(name: str) -> str:
    try:
        return safe_name(name)
    except UnsafePath as exc:
        raise CatalogError(str(exc)) from None
