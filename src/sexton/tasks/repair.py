"""``repair``: replace corrupt or missing copies from good ones, on another store or at
another site; ``check_integrity`` with ``repair: true`` does the same for what it just found.

A source is good when it is present with the file's checksum verified within
``verified_within`` (a remote copy: confirmed by its site within it). The replacement goes
through the store's write path (a temporary name, hashed while written, renamed over the
damaged copy only when it matches, DESIGN §5 invariant 2), then is recorded verified. With no
good source the damaged copy is left exactly as it is; a file with no good copy anywhere is
**lost**, which needs a person (the task goes ``down`` until ``sexton clear``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import BinaryIO

from pydantic import Field

from ..catalog import DETECTED, LOST, Copy, Damaged, RemoteSource, UnknownStore
from ..catalog.pages import id_ranges
from ..checksums import Checksum
from ..config.models import Duration, StoreNames
from ..durations import format_duration
from ..stores import ChecksumMismatch, Store, StoreError
from ..transfer.runs import SiteRun
from ..transfer.sites import SiteError
from .base import NeedsAttention, RunContext, ShardBounds, Task, TaskInterrupted, TaskParams
from .planning import PlanContext, PlannedAction
from .verify import Checked, check_copies

# Damaged copies looked up in the catalog at a time.
BATCH = 256
# Files named in the run's error; the events list them all.
NAMED_IN_ERROR = 5
DEFAULT_WINDOW = timedelta(days=30)


class RepairTask(Task):
    type = "repair"
    plans = True

    class Params(TaskParams):
        stores: StoreNames = Field(min_length=1)  # whose damaged copies are repaired
        verified_within: Duration = DEFAULT_WINDOW  # how recently a source must be verified
        from_sites: bool = True  # also repair from copies other sites confirmed
        files_per_run: int | None = Field(default=None, ge=1)

        def written_stores(self) -> dict[str, list[str]]:
            """The stores this task writes into, by parameter: `validate` refuses read-only ones."""
            return {"stores": list(self.stores)}

    def run(self, ctx: RunContext) -> None:
        params: RepairTask.Params = ctx.params
        damaged = _damaged(ctx, params.stores, params.files_per_run)
        repair_damage(ctx, damaged, params.verified_within, params.from_sites, count=True)

    # -- fan_out: shards are ranges of the damaged copies' instance ids ----------------------

    splits = True

    def plan_shards(self, ctx: RunContext, size: int, since: datetime) -> Iterator[ShardBounds]:
        params: RepairTask.Params = ctx.params
        damaged = _damaged(ctx, params.stores, params.files_per_run)
        for after_id, upto_id in id_ranges((d.copy.instance_id for d in damaged), size):
            yield ShardBounds(after_id=after_id, upto_id=upto_id)

    def run_shard(self, ctx: RunContext, shard: ShardBounds, since: datetime) -> None:
        """A copy repaired before the shard was claimed again is no longer damaged."""
        params: RepairTask.Params = ctx.params
        damaged = _damaged(ctx, params.stores, None, shard.after_id, shard.upto_id)
        repair_damage(ctx, damaged, params.verified_within, params.from_sites, count=True)

    def plan(self, ctx: PlanContext) -> Iterator[PlannedAction]:
        """Each damaged copy a run would replace, with the verified copies it may come from
        (the run tries them newest first); a lost file has none and is not listed."""
        params: RepairTask.Params = ctx.params
        for damaged in _damaged(ctx, params.stores, params.files_per_run):
            sources = ctx.catalog.vouchers(damaged.copy, params.verified_within)
            if not params.from_sites:  # a remote voucher's store is `site:store`, not ours
                sources = [s for s in sources if s.store in ctx.stores]
            if sources:
                yield PlannedAction(
                    "copy",
                    damaged.copy.store,
                    damaged.copy.path,
                    damaged.copy.size,
                    f"{damaged.state}: replaced from a copy verified within "
                    f"{format_duration(params.verified_within)}",
                    tuple(sources),
                )


def repair_damage(
    ctx: RunContext,
    damaged: Iterable[Damaged],
    verified_within: timedelta,
    from_sites: bool,
    count: bool = False,
) -> None:
    """Repair ``damaged`` copies one by one; with ``count`` each is an item of the run (not for
    ``check_integrity``, whose items are the copies it checked)."""
    repairer = Repairer(ctx, verified_within, from_sites)
    with repairer:
        for one in damaged:
            if ctx.should_stop():
                repairer.stopped = True
                break
            repairer.repair(one)
            if count:
                ctx.progress(items=1, bytes=one.copy.size)
    repairer.finish()


def _damaged(
    ctx: PlanContext,
    stores: list[str],
    limit: int | None,
    after_id: int | None = None,
    upto_id: int | None = None,
) -> Iterable[Damaged]:
    """The damaged copies on ``stores`` (with an id in ``(after_id, upto_id]``, a shard's), a
    page at a time, at most ``limit``."""
    after, given = after_id or 0, 0
    while limit is None or given < limit:
        page = ctx.catalog.damaged(stores, after, BATCH, upto_id)
        if not page:
            return
        for damaged in page[: None if limit is None else limit - given]:
            yield damaged
            given += 1
        after = page[-1].copy.instance_id


class Repairer(AbstractContextManager["Repairer"]):
    """Repairs damaged copies one at a time, and keeps what could not be repaired."""

    def __init__(self, ctx: RunContext, verified_within: timedelta, from_sites: bool) -> None:
        self.ctx = ctx
        self.verified_within = verified_within
        self.from_sites = from_sites
        self.sites = SiteRun(ctx)
        self.repaired = 0
        self.lost: list[Copy] = []
        self.unrepaired: list[tuple[Copy, str]] = []
        self.bad_sources = Checked()  # local sources that failed as they were read
        self.stopped = False

    def __exit__(self, *_exc: object) -> None:
        self.sites.__exit__()

    def repair(self, damaged: Damaged) -> None:
        copy = damaged.copy
        ctx = self.ctx
        ctx.catalog.record_repair(damaged, DETECTED, ctx.run_id)
        if copy.checksum is None:
            self._not_repaired(damaged, "the file was never hashed")
            return
        try:
            target = ctx.stores[copy.store]
        except (UnknownStore, StoreError) as exc:
            self._not_repaired(damaged, str(exc))
            return
        expected = Checksum.parse(copy.checksum)
        sources = ctx.catalog.repair_sources(copy, self.verified_within)
        try:
            if any(self._from_store(damaged, target, s, expected) for s in sources.local):
                return
            remote = sources.remote if self.from_sites else ()
            if any(self._from_site(damaged, target, r, expected) for r in remote):
                return
        except StoreError as exc:  # the target's: full, read-only, unwritable
            self._not_repaired(damaged, str(exc))
            return
        if ctx.catalog.is_lost(copy.file_id):
            self.lost.append(copy)
            ctx.catalog.record_repair(damaged, LOST, ctx.run_id, detail="no good copy anywhere")
            ctx.event("lost", store=copy.store, path=copy.path)
            return
        window = f"no good copy verified within {self.verified_within}"
        tried = sources.local or (sources.remote if self.from_sites else ())
        self._not_repaired(damaged, "every source failed" if tried else window)

    def _from_store(
        self, damaged: Damaged, target: Store, source: Copy, expected: Checksum
    ) -> bool:
        """Repair from a copy on another store; a source that turns out gone or damaged as
        it is read is recorded so (and left to this run's error)."""
        try:
            store = self.ctx.stores[source.store]
        except (UnknownStore, StoreError) as exc:
            self._unusable(source.name, f"store {source.store}", str(exc))
            return False
        try:
            with store.open_read(source.path) as f:
                if self._write(damaged, target, f, expected, f"store {source.store}"):
                    return True
        except FileNotFoundError:
            self.ctx.catalog.mark_missing([source.instance_id], self.ctx.run_id)
            self.bad_sources.missing.append(source)
            self.ctx.event("missing", store=source.store, path=source.path)
            return False
        check_copies(self.ctx, store, [source], expected.algo, self.bad_sources)
        return False

    def _from_site(
        self, damaged: Damaged, target: Store, remote: RemoteSource, expected: Checksum
    ) -> bool:
        """Repair from the copy another site confirmed, fetched over its transfer API."""
        name = f"site {remote.site}/{remote.store}"
        if not self.sites.knows(remote.site):
            self._unusable(damaged.copy.name, name, "not under sites: in the config")
            return False
        try:
            with self.sites.client(remote.site).fetch(damaged.copy.name) as f:
                return self._write(damaged, target, f, expected, name)
        except SiteError as exc:
            self._unusable(damaged.copy.name, name, str(exc))
            return False

    def _write(
        self, damaged: Damaged, target: Store, f: BinaryIO, expected: Checksum, source: str
    ) -> bool:
        """Rewrite the damaged copy from ``f``; True once it matched and is recorded. On a
        mismatch nothing is kept and the damaged copy stays as it was."""
        copy = damaged.copy
        try:
            target.write_from(
                copy.path, f, [expected.algo], expected, size=copy.size, overwrite=True
            )
        except ChecksumMismatch as exc:
            self._unusable(copy.name, source, str(exc))
            return False
        info = target.info(copy.path)
        mtime = info.mtime if info else None
        self.ctx.catalog.record_repaired(damaged, source, mtime, self.ctx.run_id)
        self.repaired += 1
        self.ctx.event("repaired", store=copy.store, path=copy.path, source=source)
        return True

    def _unusable(self, name: str, source: str, why: str) -> None:
        self.ctx.event("repair source unusable", path=name, source=source, error=why)

    def _not_repaired(self, damaged: Damaged, why: str) -> None:
        self.unrepaired.append((damaged.copy, why))
        self.ctx.event("not repaired", store=damaged.copy.store, path=damaged.copy.path, reason=why)

    def finish(self) -> None:
        """Sum up the run; lost files, damage left and bad sources need a person."""
        self.ctx.event(
            "repair",
            repaired=self.repaired,
            lost=len(self.lost),
            unrepaired=len(self.unrepaired),
            bad_sources=len(self.bad_sources.corrupt) + len(self.bad_sources.missing),
        )
        problems = []
        if self.lost:
            problems.append(
                f"{len(self.lost)} files lost (no good copy anywhere): "
                + _names(c.name for c in self.lost)
            )
        if self.unrepaired:
            problems.append(
                f"{len(self.unrepaired)} damaged copies not repaired: "
                + _names(f"{c.store}:{c.path} ({why})" for c, why in self.unrepaired)
            )
        if self.bad_sources.corrupt:
            problems.append(
                f"{len(self.bad_sources.corrupt)} repair sources found corrupt: "
                + _names(f"{f.copy.store}:{f.copy.path}" for f in self.bad_sources.corrupt)
            )
        if problems:
            raise NeedsAttention("; ".join(problems))
        if self.stopped:
            raise TaskInterrupted(
                "stopped before every damaged copy was repaired; the next run resumes"
            )


def _names(items: Iterable[str]) -> str:
    listed = list(items)
    more = len(listed) - NAMED_IN_ERROR
    return ", ".join(listed[:NAMED_IN_ERROR]) + (f" and {more} more" if more > 0 else "")
