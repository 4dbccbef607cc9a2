"""What Sexton decided about a store at run time, which the config cannot say.

A clone that fills a SneakerNet drive disables it (``disable_store_on_full``); that must
survive restarts and be seen by every worker and by ``catalog stats``, so it lives here.
On the shared ``metadata``, so one Alembic history covers it.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, String, Table, Text

from .tables import metadata
from .types import UTCDateTime

store_state = Table(
    "store_state",
    metadata,
    Column("store", String(200), primary_key=True),
    # Overrides the config's `enabled:` while the row exists.
    Column("enabled", Boolean, nullable=False),
    Column("disabled_at", UTCDateTime),
    Column("reason", Text),
)
