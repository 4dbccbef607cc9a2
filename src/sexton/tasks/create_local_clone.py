"""``create_local_clone``: one more copy of a store's files on local destinations
(SneakerNet drives, a second array), each file on exactly one of them. The copying, with
its safety rules, is the shared ``Copier``'s."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta

from pydantic import Field

from ..catalog import Copy, UnknownStore
from ..config.models import StoreName, StoreNames
from ..stores import Store, StoreError
from .base import RunContext, ShardBounds, Task, TaskFailed, TaskInterrupted, TaskParams
from .copier import Copier, Wanted
from .planning import PlanContext, PlannedAction
from .verify import remove_stale_temps


class CreateLocalCloneTask(Task):
    type = "create_local_clone"
    plans = True

    class Params(TaskParams):
        clone_from: StoreName
        clone_to: StoreNames = Field(min_length=1)  # tried in order; one copy across all
        age_in_days: int | None = Field(default=7, ge=0)
        files_per_run: int | None = Field(default=None, ge=1)
        disable_store_on_full: bool = False

    def run(self, ctx: RunContext) -> None:
        params: CreateLocalCloneTask.Params = ctx.params
        window = self._window(ctx.now(), params)
        _note_unhashed(ctx, params, window)
        todo = (params.clone_from, params.clone_to, window, params.files_per_run)
        total = ctx.catalog.count_uncloned(*todo)
        _clone(ctx, params, lambda: ctx.catalog.uncloned(*todo), total)

    # -- fan_out: shards are ranges of the source's uncloned instance ids --------------------

    splits = True

    def plan_shards(self, ctx: RunContext, size: int, since: datetime) -> Iterator[ShardBounds]:
        params: CreateLocalCloneTask.Params = ctx.params
        window = self._window(since, params)
        _note_unhashed(ctx, params, window)
        ranges = ctx.catalog.uncloned_id_ranges(
            params.clone_from, params.clone_to, size, window, limit=params.files_per_run
        )
        for after_id, upto_id in ranges:
            yield ShardBounds(after_id=after_id, upto_id=upto_id)

    def run_shard(self, ctx: RunContext, shard: ShardBounds, since: datetime) -> None:
        """A file cloned before the shard was claimed again is no longer uncloned."""
        params: CreateLocalCloneTask.Params = ctx.params
        window = self._window(since, params)
        todo = ctx.catalog.uncloned_between(
            params.clone_from, params.clone_to, shard.after_id, shard.upto_id, window
        )
        _clone(ctx, params, lambda: [todo], len(todo))

    def plan(self, ctx: PlanContext) -> Iterator[PlannedAction]:
        params: CreateLocalCloneTask.Params = ctx.params
        window = self._window(ctx.now(), params)
        todo = ctx.catalog.uncloned(
            params.clone_from, params.clone_to, window, params.files_per_run
        )
        overrides = ctx.catalog.store_overrides()
        destinations = [ctx.stores[name] for name in params.clone_to]
        room = Room(
            [d for d in destinations if overrides.get(d.name, d.enabled)],
            {d.name: ctx.catalog.store_used(d.name) for d in destinations},
        )
        age = "any age" if params.age_in_days is None else f"newer than {params.age_in_days} days"
        for copy in (copy for page in todo for copy in page):
            destination = room.place(copy.size, full=params.disable_store_on_full)
            if destination is None:
                return  # the run stops here: every destination is full
            yield PlannedAction(
                "copy",
                destination.name,
                copy.name,
                copy.size,
                f"on {copy.store} ({age}), not yet cloned to {', '.join(params.clone_to)}",
            )

    @staticmethod
    def _window(now: datetime, params: CreateLocalCloneTask.Params) -> datetime | None:
        """Files created after this are cloned (``now`` is a fanned-out run's queuing, the
        same for all its shards); None: files of any age."""
        if params.age_in_days is None:
            return None
        return now - timedelta(days=params.age_in_days)


def _note_unhashed(
    ctx: RunContext, params: CreateLocalCloneTask.Params, window: datetime | None
) -> None:
    """Files the run would clone but cannot yet, said once per run."""
    unhashed = ctx.catalog.unhashed(params.clone_from, params.clone_to, window)
    if unhashed:
        ctx.event("skipped", reason="no checksum yet: run check_integrity", files=unhashed)


def _clone(
    ctx: RunContext,
    params: CreateLocalCloneTask.Params,
    pages: Callable[[], Iterable[list[Copy]]],
    total: int,
) -> None:
    """Clone the copies ``pages()`` gives (``total`` of them; it is read twice) and end the
    run, or shard, as what happened requires."""
    try:
        ctx.stores[params.clone_from]  # reachable, before anything is copied from it
        destinations = [ctx.stores[name] for name in params.clone_to]
    except (UnknownStore, StoreError) as exc:
        raise TaskFailed(str(exc)) from None
    ctx.progress(total=total)
    cloner = Copier(ctx, destinations, params.disable_store_on_full)
    # What a killed run of this task left behind, cleared in a pass of its own: during
    # the cloning, a page's directories may hold this run's own temporary files.
    for page in pages():
        for destination in cloner.open:
            remove_stale_temps(ctx, destination, [c.name for c in page])
    cloner.copy_all(Wanted(copy) for page in pages() for copy in page)
    ctx.event("cloned", **cloner.counts())
    cloner.raise_findings()
    if ctx.should_stop() and cloner.done < total:
        raise TaskInterrupted("stopped before every file was cloned; the next run resumes")


class Room:
    """The destinations still open and the bytes each holds: where the next copy goes."""

    def __init__(self, open: list[Store], used: dict[str, int]) -> None:
        self.open = open
        self.used = used

    def first_with_room(self, size: int) -> Store | None:
        """The first open destination if it has room for ``size`` more bytes; None if it has
        not (the caller disables it or stops) or none is open."""
        if self.open and self.open[0].has_room_for(size, self.used[self.open[0].name]):
            return self.open[0]
        return None

    def place(self, size: int, full: bool) -> Store | None:
        """Where a plan puts the next copy, reserving its bytes: full destinations are
        passed over when ``full`` (disable_store_on_full), else the run would stop."""
        while (destination := self.first_with_room(size)) is None:
            if not full or not self.open:
                return None
            self.open.pop(0)
        self.used[destination.name] += size
        return destination
