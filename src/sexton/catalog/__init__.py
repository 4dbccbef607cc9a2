"""The catalog: files, their copies (instances) on stores, and their processing marks."""

from __future__ import annotations

from .catalog import Catalog
from .copies import VerifiedCopy
from .deletion import Voucher
from .directories import DirectoryCounts
from .errors import BadListing, CatalogError, UnknownFile, UnknownStore
from .fixity import Copy, Finding
from .ingest import ALLOWED, DISALLOWED, Arrival, ArrivalConflict, deletion_policy
from .marks import quarantine_mark
from .reconcile import BATCH_SIZE, Hasher, ScanPlan
from .records import (
    CORRUPT,
    DELETED,
    MISSING,
    PRESENT,
    STATES,
    CatalogStats,
    CheckRecord,
    FileDetail,
    FileRecord,
    InstanceRecord,
    ListedFile,
    MarkRecord,
    NeededFile,
    ReconcileReport,
    RepairRecord,
    StoreStats,
)
from .repair import DETECTED, LOST, REPAIRED, Damaged, RemoteSource, Sources
from .replication import CopiesPolicy, ReplicationCounts, Shortfall
from .scope import Scope
from .stores import OpenStores

__all__ = [
    "Voucher",
    "ALLOWED",
    "DISALLOWED",
    "Arrival",
    "ArrivalConflict",
    "deletion_policy",
    "BATCH_SIZE",
    "CORRUPT",
    "DELETED",
    "MISSING",
    "PRESENT",
    "STATES",
    "BadListing",
    "Catalog",
    "CatalogError",
    "CatalogStats",
    "Copy",
    "CopiesPolicy",
    "ReplicationCounts",
    "Shortfall",
    "FileDetail",
    "FileRecord",
    "Finding",
    "Hasher",
    "InstanceRecord",
    "ListedFile",
    "MarkRecord",
    "NeededFile",
    "quarantine_mark",
    "OpenStores",
    "ReconcileReport",
    "DETECTED",
    "LOST",
    "REPAIRED",
    "Damaged",
    "RemoteSource",
    "Sources",
    "CheckRecord",
    "RepairRecord",
    "ScanPlan",
    "Scope",
    "DirectoryCounts",
    "StoreStats",
    "UnknownFile",
    "UnknownStore",
    "VerifiedCopy",
]
