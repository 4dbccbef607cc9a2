"""Totals for `sexton catalog stats`, `/metrics` and the dashboard."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, func, select

from sexton.db.catalog_tables import files, instances
from sexton.stores import Store

from .records import PRESENT, CatalogStats, StoreStats
from .store_state import store_overrides


def catalog_stats(connection: Connection, stores: Mapping[str, Store]) -> CatalogStats:
    """Counts from the catalog; free space from each configured store, where it can tell.

    Stores that appear only in the catalog (removed from the config) are listed as disabled.
    """
    count, total = connection.execute(
        select(func.count(), func.coalesce(func.sum(files.c.size), 0))
    ).one()
    by_state: dict[str, int] = dict(
        connection.execute(
            select(instances.c.state, func.count()).group_by(instances.c.state)
        ).all()
    )
    held = select(
        instances.c.store,
        func.count(),
        func.coalesce(func.sum(func.coalesce(instances.c.size_seen, files.c.size)), 0),
    )
    held = held.join_from(instances, files, instances.c.file_id == files.c.id)
    per_store = {
        name: (int(n), int(nbytes))
        for name, n, nbytes in connection.execute(
            held.where(instances.c.state == PRESENT).group_by(instances.c.store)
        )
    }
    overrides = store_overrides(connection)  # stores switched off at run time (full drives)
    stats: dict[str, StoreStats] = {}
    for name in sorted(set(stores) | set(per_store)):
        n, nbytes = per_store.get(name, (0, 0))
        store = _reachable(stores, name)
        stats[name] = StoreStats(
            files=n,
            bytes=nbytes,
            free=_free(store, nbytes),
            enabled=overrides.get(name, store.enabled if store is not None else name in stores),
        )
    return CatalogStats(int(count), int(total), {k: int(v) for k, v in by_state.items()}, stats)


def _reachable(stores: Mapping[str, Store], name: str) -> Store | None:
    if name not in stores:
        return None
    try:
        return stores[name]
    except Exception:  # an unreachable store (SSH down) shows as unknown free space
        return None


def _free(store: Store | None, used: int) -> int | None:
    if store is None:
        return None
    try:
        return store.free_space(used)
    except Exception:  # an unmounted drive or a failing server: free space unknown
        return None
