"""``create_local_clone``: one more copy of a store's files on local destinations
(SneakerNet drives, a second array), each file on exactly one of them. The copying, with
its safety rules, is the shared ``Copier``'s."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from ..catalog import UnknownStore
from ..config.models import StoreName, StoreNames
from ..stores import StoreError
from .base import RunContext, Task, TaskFailed, TaskInterrupted, TaskParams
from .copier import Copier, Wanted
from .verify import remove_stale_temps


class CreateLocalCloneTask(Task):
    type = "create_local_clone"

    class Params(TaskParams):
        clone_from: StoreName
        clone_to: StoreNames = Field(min_length=1)  # tried in order; one copy across all
        age_in_days: int | None = Field(default=7, ge=0)
        files_per_run: int | None = Field(default=None, ge=1)
        disable_store_on_full: bool = False

    def run(self, ctx: RunContext) -> None:
        params: CreateLocalCloneTask.Params = ctx.params
        try:
            source = ctx.stores[params.clone_from]
            destinations = [ctx.stores[name] for name in params.clone_to]
        except (UnknownStore, StoreError) as exc:
            raise TaskFailed(str(exc)) from None
        window = (
            None if params.age_in_days is None else ctx.now() - timedelta(days=params.age_in_days)
        )
        names = [d.name for d in destinations]
        unhashed = ctx.catalog.unhashed(source.name, names, window)
        if unhashed:
            ctx.event("skipped", reason="no checksum yet: run check_integrity", files=unhashed)
        todo = ctx.catalog.uncloned(source.name, names, window, params.files_per_run)
        ctx.progress(total=len(todo))
        cloner = Copier(ctx, destinations, params.disable_store_on_full)
        for destination in cloner.open:  # what a killed run of this task left behind
            remove_stale_temps(ctx, destination, [c.name for c in todo])
        cloner.copy_all(Wanted(copy) for copy in todo)
        ctx.event("cloned", **cloner.counts())
        cloner.raise_findings()
        if ctx.should_stop() and cloner.done < len(todo):
            raise TaskInterrupted("stopped before every file was cloned; the next run resumes")
