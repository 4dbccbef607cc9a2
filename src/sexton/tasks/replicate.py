"""``replicate``: bring every file up to its copies rule (``copies: {min, sites}``) by
making the missing copies on the task's ``targets``, each from a copy whose checksum was
verified, through the same copier as ``create_local_clone``.

Only local copies can be made: a file short of sites (it needs a copy at another site) is
counted in the run's event and in ``catalog stats``, not fixed here. A file with no
verified copy on this site's stores cannot be copied from anything and is counted too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Protocol, cast

from pydantic import Field

from ..catalog import CopiesPolicy, Copy, Shortfall, UnknownStore
from ..catalog.pages import id_ranges
from ..config import Config
from ..config.models import StoreNames
from ..stores import StoreError
from .base import RunContext, ShardBounds, Task, TaskFailed, TaskInterrupted, TaskParams
from .copier import Copier, Wanted
from .planning import PlanContext, PlannedAction
from .verify import remove_stale_temps

# Files judged per page of the catalog (by file id): a page's shortfalls, sources and
# holders are read in one query each, and nothing proportional to the catalog is held.
PAGE = 1024


class _ReplicateContext(RunContext, Protocol):
    config: Config  # the copies policy and the stores


class ReplicateTask(Task):
    type = "replicate"
    plans = True

    class Params(TaskParams):
        targets: StoreNames = Field(min_length=1)  # tried in order for each missing copy
        files_per_run: int | None = Field(default=None, ge=1)
        disable_store_on_full: bool = False

    def run(self, ctx: RunContext) -> None:
        params: ReplicateTask.Params = ctx.params
        _replicate(ctx, _Pages(ctx, _in_use(ctx), params.files_per_run, ctx.should_stop))

    # -- fan_out: shards are ranges of file ids ----------------------------------------------

    splits = True

    def plan_shards(self, ctx: RunContext, size: int, since: datetime) -> Iterator[ShardBounds]:
        """Ranges of about ``size`` files below their rule (``files_per_run`` at most)."""
        params: ReplicateTask.Params = ctx.params
        pages = _Pages(ctx, _in_use(ctx), params.files_per_run, lambda: False)
        below = (s.file_id for page in pages.shortfalls() for s in page)
        for after_id, upto_id in id_ranges(below, size):
            yield ShardBounds(after_id=after_id, upto_id=upto_id)

    def run_shard(self, ctx: RunContext, shard: ShardBounds, since: datetime) -> None:
        """A file replicated before the shard was claimed again is no longer below its rule."""
        pages = _Pages(ctx, _in_use(ctx), None, ctx.should_stop, shard.after_id, shard.upto_id)
        _replicate(ctx, pages)

    def plan(self, ctx: PlanContext) -> Iterator[PlannedAction]:
        """The copies a run would make, each on the first target in use that does not hold
        the file yet; whether that target has room is left to the run (a full one is
        disabled or fails the run, as ``disable_store_on_full`` says)."""
        params: ReplicateTask.Params = ctx.params
        in_use = _in_use(ctx)
        targets = [t for t in params.targets if t in in_use]
        pages = _Pages(ctx, in_use, params.files_per_run, lambda: False)
        for page in pages:
            for wanted in page:
                copy = wanted.source
                why = f"below its copies rule; copied from {copy.store}"
                for target in [t for t in targets if t not in wanted.avoid][: wanted.copies]:
                    yield PlannedAction("copy", target, copy.name, copy.size, why)


def _replicate(ctx: RunContext, pages: _Pages) -> None:
    """Make the copies ``pages`` wants and end the run, or shard, as what happened requires."""
    params: ReplicateTask.Params = ctx.params
    try:
        targets = [ctx.stores[name] for name in params.targets]
    except (UnknownStore, StoreError) as exc:
        raise TaskFailed(str(exc)) from None
    copier = Copier(ctx, targets, params.disable_store_on_full)
    for page in pages:
        for target in copier.open:  # what a killed run of this task left behind
            remove_stale_temps(ctx, target, [w.source.name for w in page])
        copier.copy_all(page)
        if ctx.should_stop():
            break
    ctx.event(
        "replicated",
        **copier.counts(),
        unplaced=copier.unplaced,
        no_source=pages.no_source,
        short_of_sites=pages.short_of_sites,
    )
    copier.raise_findings()
    if ctx.should_stop() and pages.more:
        raise TaskInterrupted("stopped before every file was replicated; the next run resumes")


def _in_use(ctx: PlanContext) -> list[str]:
    """The stores in use: a store out of use may be a drive shipped away, and reading it would
    find every copy gone and mark it missing, so only these are copied from (or to)."""
    settings = cast(_ReplicateContext, ctx).config.settings
    overrides = ctx.catalog.store_overrides()
    return [n for n, s in settings.stores.items() if overrides.get(n, s.enabled)]


class _Pages:
    """The copies to make, a page of files at a time, with what cannot be made counted: of
    every file, or of those with an id in ``(after_id, upto_id]`` (a shard)."""

    def __init__(
        self,
        ctx: PlanContext,
        stores: list[str],
        limit: int | None,
        should_stop: Callable[[], bool],  # a run's soft timeout; a plan never stops early
        after_id: int | None = None,
        upto_id: int | None = None,
    ) -> None:
        self.ctx = ctx
        self.should_stop = should_stop
        self.policy = CopiesPolicy.of(cast(_ReplicateContext, ctx).config.settings)
        self.stores = stores  # where sources may be read
        self.limit = limit
        self.after_id = after_id or 0
        self.upto_id = upto_id
        self.no_source = 0  # files below the rule with no verified copy here to copy from
        self.short_of_sites = 0  # files needing a copy at another site: not ours to make
        self.more = True  # whether files below the rule may remain unvisited

    def __iter__(self) -> Iterator[list[Wanted]]:
        for shortfalls in self.shortfalls():
            yield self._wanted(shortfalls)

    def shortfalls(self) -> Iterator[list[Shortfall]]:
        """The files below their rule, a page at a time, ``limit`` of them at most."""
        after_id: int | None = self.after_id
        left = self.limit
        while after_id is not None and (left is None or left > 0):
            page = self.ctx.catalog.below_policy(self.policy, after_id, PAGE, self.upto_id)
            shortfalls = page.shortfalls[:left]
            if len(shortfalls) < len(page.shortfalls):  # files_per_run reached mid-page
                after_id = shortfalls[-1].file_id
            else:
                after_id = page.last_id
            if left is not None:
                left -= len(shortfalls)
            if shortfalls:
                yield shortfalls
            if self.should_stop():
                break
        self.more = after_id is not None

    def _wanted(self, shortfalls: list[Shortfall]) -> list[Wanted]:
        self.short_of_sites += sum(1 for s in shortfalls if s.sites < s.needs_sites)
        short = {s.file_id: s for s in shortfalls if s.missing_copies > 0}
        sources: dict[int, Copy] = {}
        for copy in self.ctx.catalog.verified_copies(list(short), self.stores):
            sources.setdefault(copy.file_id, copy)  # the oldest verified copy
        holders = self.ctx.catalog.holders(list(sources))
        self.no_source += len(short) - len(sources)
        return [
            Wanted(copy, short[file_id].missing_copies, holders.get(file_id, set()))
            for file_id, copy in sources.items()
        ]
