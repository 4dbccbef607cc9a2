"""Stores switched off at run time (a full SneakerNet drive), overriding the config."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from sexton.db.store_state_tables import store_state

from .upsert import insert_for


def store_overrides(connection: Connection) -> dict[str, bool]:
    """``enabled`` for each store whose state was set at run time; others follow the config."""
    query = select(store_state.c.store, store_state.c.enabled)
    return {store: enabled for store, enabled in connection.execute(query)}


def set_store_enabled(
    connection: Connection, store: str, enabled: bool, reason: str | None, now: datetime
) -> None:
    """Switch a store on or off for every worker, until changed again."""
    row = {
        "enabled": enabled,
        "disabled_at": None if enabled else now,
        "reason": reason,
    }
    upsert = insert_for(connection, store_state).values(store=store, **row)
    connection.execute(upsert.on_conflict_do_update(index_elements=[store_state.c.store], set_=row))
