"""Named storage locations (local paths, S3, SFTP, HDFS, any fsspec URL) behind one interface.

Every write goes to a temporary name, is hashed while written and appears under its final
name only when complete; every name is confined to the store root.
"""

from __future__ import annotations

from sexton.stores.entry import EntryInfo
from sexton.stores.errors import (
    AlreadyExists,
    ChecksumMismatch,
    StoreError,
    StoreFull,
    StoreReadOnly,
    UnsafePath,
)
from sexton.stores.factory import open_store
from sexton.stores.paths import safe_name
from sexton.stores.settings import StoreSettings, check_store_url
from sexton.stores.store import Store
from sexton.stores.writer import StoreWriter

__all__ = [
    "AlreadyExists",
    "ChecksumMismatch",
    "EntryInfo",
    "Store",
    "StoreError",
    "StoreFull",
    "StoreReadOnly",
    "StoreSettings",
    "StoreWriter",
    "UnsafePath",
    "check_store_url",
    "open_store",
    "safe_name",
]
