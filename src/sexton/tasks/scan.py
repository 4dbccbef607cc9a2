"""``scan``: bring the catalog up to date with what a store holds, incrementally.

New files are added (hashed now with ``checksum_new``), files whose size or mtime changed are
flagged (and re-hashed when hashing), vanished ones are marked missing, and marks are kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from pydantic import field_validator

from ..catalog import Hasher, ScanPlan, Scope, UnknownStore
from ..checksums import Checksum, hash_files_parallel
from ..config.models import Algorithm, Duration, NameList, StoreName
from ..stores import EntryInfo, Store, StoreError, safe_name
from .base import RunContext, Task, TaskFailed, TaskInterrupted, TaskParams


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
        params: ScanTask.Params = ctx.params
        try:
            store = ctx.stores[params.store]
        except (UnknownStore, StoreError) as exc:
            raise TaskFailed(str(exc)) from None
        scope = Scope.of(params.prefixes, params.include, params.exclude)
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
                lambda: store.walk(scope.prefixes),
                progress=lambda items, nbytes: ctx.progress(items=items, bytes=nbytes),
                should_stop=ctx.should_stop,
            )
        except StoreError as exc:
            raise TaskFailed(str(exc)) from None
        ctx.event("scan", **report.to_json())
        if not complete:
            raise TaskInterrupted("stopped before the end of the listing; the next scan resumes")


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
