"""``scan``: bring the catalog up to date with what a store holds, incrementally.

New files are added (hashed now with ``checksum_new``), files whose size or mtime changed are
flagged (and re-hashed when hashing), vanished ones are marked missing, and marks are kept.
With ``fan_out`` a run is split into directories that workers scan on their own
(``scan_shards``); a shard is the same scan, cut to its directory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from pydantic import field_validator

from ..catalog import Hasher, ScanPlan, Scope, UnknownStore
from ..checksums import Checksum, hash_files_parallel
from ..config.models import Algorithm, Duration, NameList, StoreName
from ..stores import EntryInfo, Store, StoreError, safe_name
from . import scan_shards
from .base import RunContext, ShardBounds, Task, TaskFailed, TaskInterrupted, TaskParams


class ScanTask(Task):
    type = "scan"

    class Params(TaskParams):
        store: StoreName
        prefixes: NameList = []  # directories under the root to scan; default: all of it
        include: NameList = []  # globs on the name relative to the root; `*` crosses `/`
        exclude: NameList = []
        min_age: Duration | None = None  # files modified more recently are still being written
        checksum_new: bool = False
        checksum: Algorithm | None = None  # default: the config's `checksum:`

        @field_validator("prefixes")
        @classmethod
        def _safe_prefixes(cls, value: list[str]) -> list[str]:
            return [safe_name(p.rstrip("/")) for p in value]

    def run(self, ctx: RunContext) -> None:
        _scan(ctx, _scope(ctx.params))

    # -- fan_out: shards are directories (see scan_shards) -----------------------------------

    splits = True

    def plan_shards(self, ctx: RunContext, size: int, since: datetime) -> Iterator[ShardBounds]:
        """Directories of about ``size`` files each (``fan_out.shard``), as the catalog
        counts them; ``since`` does not matter: a shard is a whole listing of its directory."""
        params: ScanTask.Params = ctx.params
        scope = _scope(params)
        store = _store(ctx, params)
        roots = params.prefixes or [""]
        depth = max(r.count("/") + 1 if r else 0 for r in roots) + scan_shards.SPLIT_DEPTH
        counts = ctx.catalog.count_by_directory(store.name, scope, depth)
        try:
            for shard in scan_shards.plan(store, counts, roots, size):
                yield shard.bounds
        except StoreError as exc:
            raise TaskFailed(str(exc)) from None

    def run_shard(self, ctx: RunContext, shard: ShardBounds, since: datetime) -> None:
        """Scan one directory: claimed again after its worker died, it simply scans again."""
        _scan(ctx, scan_shards.ScanShard.of(shard).scope(_scope(ctx.params)))


def _scope(params: ScanTask.Params) -> Scope:
    return Scope.of(params.prefixes, params.include, params.exclude)


def _store(ctx: RunContext, params: ScanTask.Params) -> Store:
    try:
        return ctx.stores[params.store]
    except (UnknownStore, StoreError) as exc:
        raise TaskFailed(str(exc)) from None


def _scan(ctx: RunContext, scope: Scope) -> None:
    """Reconcile the catalog with the listing of ``scope``: the whole task's, or a shard's."""
    params: ScanTask.Params = ctx.params
    store = _store(ctx, params)
    skip_after = (ctx.now() - params.min_age).timestamp() if params.min_age else None
    algorithm = params.checksum or ctx.catalog.checksum
    plan = ScanPlan(
        store=store.name,
        source=f"scan:{store.name}",
        scope=scope,
        newer_than_skip=skip_after,
        hasher=store_hasher(store, algorithm) if params.checksum_new else None,
        read_ahead=store.listing_waits,
    )
    try:
        report, complete = ctx.catalog.reconcile(
            plan,
            lambda: store.walk(scope.prefixes, deep=not scope.direct),
            progress=lambda items, nbytes: ctx.progress(items=items, bytes=nbytes),
            should_stop=ctx.should_stop,
        )
    except StoreError as exc:
        raise TaskFailed(str(exc)) from None
    ctx.event("scan", **report.to_json())
    if not complete:
        raise TaskInterrupted("stopped before the end of the listing; the next scan resumes")
    if report.unstorable:
        # Left out of the catalog, so nothing checks or copies them: a person must rename them.
        # The rest of the listing is recorded; the scan succeeds again once they are renamed.
        names = ", ".join(report.unstorable_names)
        more = report.unstorable - len(report.unstorable_names)
        raise TaskFailed(
            f"{report.unstorable} file names on store {store.name} are not UTF-8, so they are"
            f" not catalogued and nothing checks or copies them: {names}"
            + (f" and {more} more" if more > 0 else "")
            + "; rename them (the rest of the scan was recorded)"
        )


@dataclass(frozen=True)
class _Opener:
    """Opens one listed file; hash results carry it back, so they can be matched to entries."""

    store: Store
    entry: EntryInfo

    def __call__(self) -> BinaryIO:
        return self.store.open_read(self.entry.name)


def store_hasher(store: Store, algorithm: str) -> Hasher:
    """Hash a batch of a store's files in parallel threads (see ``hash_files_parallel``)."""

    def hash_batch(entries: Sequence[EntryInfo]) -> Iterator[tuple[EntryInfo, Checksum | None]]:
        for result in hash_files_parallel([_Opener(store, e) for e in entries], [algorithm]):
            assert isinstance(result.source, _Opener)
            entry = result.source.entry
            if result.error is not None:
                yield entry, None
            else:  # the size read, which is what the checksum covers
                yield EntryInfo(entry.name, result.size, entry.mtime), result.checksums[algorithm]

    return hash_batch
