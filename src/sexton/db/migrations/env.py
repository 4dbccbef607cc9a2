"""Alembic environment: runs migrations on the engine Sexton hands over."""

from __future__ import annotations

from alembic import context

import sexton.db.backup_tables  # noqa: F401  (registers the backup tables on `metadata`)
import sexton.db.catalog_tables  # noqa: F401  (registers the catalog tables on `metadata`)
import sexton.db.drain_tables  # noqa: F401  (registers the drain tables on `metadata`)
import sexton.db.store_state_tables  # noqa: F401  (registers the store state on `metadata`)
from sexton.db.tables import metadata

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
