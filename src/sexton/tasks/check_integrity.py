"""``check_integrity``: re-hash the copies on a store and compare them with the catalog.

Two ways to choose what to check, as the librarian had one and archives need the other:
``age_in_days`` checks the copies of files created in that window (new files are the ones
most often damaged in transit); ``rolling: true`` checks the least recently verified copies
first, so that with ``files_per_run`` sized to the schedule the whole store is verified once
per ``cycle``. Damage makes the task ``down`` until ``sexton clear``. Temporary files that
killed writers left beside the checked copies are removed once stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import timedelta

from pydantic import Field

from ..catalog import Copy, UnknownStore
from ..config.models import Algorithm, Duration, StoreName
from ..stores import Store, StoreError
from .base import NeedsAttention, RunContext, Task, TaskFailed, TaskInterrupted, TaskParams
from .verify import Checked, check_copies, remove_stale_temps

# Corrupt copies named in the run's error; the events list them all.
NAMED_IN_ERROR = 5


class CheckIntegrityTask(Task):
    type = "check_integrity"

    class Params(TaskParams):
        store_name: StoreName
        age_in_days: int | None = Field(default=7, ge=0)  # ignored when rolling
        rolling: bool = False
        cycle: Duration = timedelta(days=30)  # rolling: how old a verification may get
        files_per_run: int | None = Field(default=None, ge=1)
        algorithm: Algorithm | None = None  # for files never hashed; default: the config's

    def run(self, ctx: RunContext) -> None:
        params: CheckIntegrityTask.Params = ctx.params
        try:
            store = ctx.stores[params.store_name]
        except (UnknownStore, StoreError) as exc:
            raise TaskFailed(str(exc)) from None
        now = ctx.now()
        verified_before = created_after = None
        if params.rolling:
            verified_before = now - params.cycle
        elif params.age_in_days is not None:
            created_after = now - timedelta(days=params.age_in_days)
        due = (store.name, verified_before, created_after)
        total = ctx.catalog.count_due(*due, limit=params.files_per_run)
        ctx.progress(total=total)
        pages = ctx.catalog.due_for_check(*due, limit=total)
        algorithm = params.algorithm or ctx.catalog.checksum
        checked = Checked()
        try:
            check_copies(ctx, store, _copies(ctx, store, pages), algorithm, checked)
        except StoreError as exc:
            raise TaskFailed(str(exc)) from None
        ctx.event("checked", store=store.name, **checked.to_json())
        if checked.corrupt:
            names = ", ".join(f.copy.path for f in checked.corrupt[:NAMED_IN_ERROR])
            more = len(checked.corrupt) - NAMED_IN_ERROR
            raise NeedsAttention(
                f"{len(checked.corrupt)} corrupt copies on store {store.name}: {names}"
                + (f" and {more} more" if more > 0 else "")
            )
        if checked.stopped:
            raise TaskInterrupted("stopped before every due copy was checked; the next run resumes")


def _copies(ctx: RunContext, store: Store, pages: Iterable[list[int]]) -> Iterator[Copy]:
    """The due copies, a page at a time as the hashing reaches them; what killed writers
    left beside them is cleared first."""
    for ids in pages:
        copies = ctx.catalog.copies(ids)
        remove_stale_temps(ctx, store, [c.path for c in copies])
        yield from copies
