"""The catalog as tasks and the CLI use it: one object over the database, one transaction
per call (or per batch, for listings)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine, select

from sexton.checksums import DEFAULT_ALGORITHM, Checksum
from sexton.clock import Clock
from sexton.db import reading
from sexton.db.catalog_tables import files, instances
from sexton.stores import Store, StoreSettings, UnsafePath, safe_name

from . import browse, copies, deletion, fixity, ingest, marks, store_state
from .copies import VerifiedCopy
from .errors import CatalogError, UnknownFile, UnknownStore
from .fixity import Copy, DueKey, Finding, copies_query, fetch_copies
from .ingest import Arrival, Standing
from .listing import read_listing, root_of
from .marks import ORDERS, Order
from .pages import keyset_pages
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
from .stats import catalog_stats

# Names resolved per query when marking by name: well under every database's parameter limit.
NAME_BATCH = 1000

FileRefs = Sequence[int] | Sequence[str]  # file ids, or names


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
        plan = ScanPlan(store=store, source=f"import:{store}")
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
    ) -> list[NeededFile]:
        """Files without ``mark`` (or without ``mark=value``), newest first, at most ``limit``.

        With ``store``, only files with a present copy there, each with its path on it.
        """
        if order not in ORDERS:
            raise CatalogError(f"bad order {order!r}: expected one of {', '.join(ORDERS)}")
        query = marks.needs_query(marks.check_mark(mark), value, store, newer_than, order)
        with reading(self.engine) as connection:
            return marks.needed(connection, query.limit(limit))

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
            lacking = marks.needs_query(marks.check_mark(mark), value, None, None, "newest")
        query = browse.listing_query(store, state, lacking, limit)
        with reading(self.engine) as connection:
            yield from browse.listed(connection, query)

    def stats(self, stores: Mapping[str, Store]) -> CatalogStats:
        with reading(self.engine) as connection:
            return catalog_stats(connection, stores)

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

    def copies(self, instance_ids: Sequence[int]) -> list[Copy]:
        with reading(self.engine) as connection:
            return fixity.copies_by_id(connection, instance_ids)

    def record_checks(self, checked: Sequence[tuple[Copy, Checksum]]) -> list[Finding]:
        """Record checksums computed for copies: verified, or corrupt (see ``fixity``)."""
        with self.engine.begin() as connection:
            return fixity.record_checks(connection, checked, self.clock.now())

    def mark_missing(self, instance_ids: Sequence[int]) -> None:
        with self.engine.begin() as connection:
            fixity.mark_missing(connection, instance_ids)

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

    def unhashed(
        self, source: str, destinations: Sequence[str], created_after: datetime | None = None
    ) -> int:
        with reading(self.engine) as connection:
            return copies.unhashed(connection, source, destinations, created_after)

    def store_used(self, store: str) -> int:
        with reading(self.engine) as connection:
            return copies.store_used(connection, store)

    def register_copies(self, verified: Sequence[VerifiedCopy]) -> None:
        """Record copies whose checksums have been matched against their files', at once."""
        with self.engine.begin() as connection:
            copies.register_copies(connection, verified, self.clock.now())

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
        fresh_after = self.clock.now() - max_verification_age
        return deletion.delete_copy(self.engine, copy, store, needed, fresh_after, force)

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
