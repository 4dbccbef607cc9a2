"""Totals for `sexton catalog stats`, `/metrics` and the dashboard."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from sqlalchemy import Connection

from sexton.stores import Store

from .records import PRESENT, CatalogStats, StoreStats
from .store_state import store_overrides
from .totals import Totals


def catalog_stats(
    connection: Connection, totals: Totals, stores: Mapping[str, Store]
) -> CatalogStats:
    """Counts from the catalog's totals; free space from each configured store, where it
    can tell.

    Stores that appear only in the catalog (removed from the config) are listed as disabled.
    """
    by_state: Counter[str] = Counter()
    for (_store, state), held in totals.copies.items():
        by_state[state] += held.copies
    holding = {store for (store, state) in totals.copies if state == PRESENT}
    overrides = store_overrides(connection)  # stores switched off at run time (full drives)
    stats: dict[str, StoreStats] = {}
    for name in sorted(set(stores) | holding):
        present = totals.held(name, (PRESENT,))
        store = _reachable(stores, name)
        stats[name] = StoreStats(
            files=present.copies,
            bytes=present.bytes,
            free=_free(store, present.bytes),
            enabled=overrides.get(name, store.enabled if store is not None else name in stores),
        )
    return CatalogStats(totals.files, totals.bytes, dict(by_state), stats)


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
