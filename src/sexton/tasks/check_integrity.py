"""``check_integrity``: re-hash the copies on a store and compare them with the catalog.

Two ways to choose what to check, as the librarian had one and archives need the other:
``age_in_days`` checks the copies of files created in that window (new files are the ones
most often damaged in transit); ``rolling: true`` checks the least recently verified copies
first, so that with ``files_per_run`` sized to the schedule the whole store is verified once
per ``cycle``. Damage makes the task ``down`` until ``sexton clear``; with ``repair: true`` the
damaged copies are repaired in the same run from good ones (see ``repair``), and only what
could not be is left for a person. Temporary files that killed writers left beside the
checked copies are removed once stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from pydantic import Field

from ..catalog import CORRUPT, MISSING, Copy, Damaged, UnknownStore
from ..config.models import Algorithm, Duration, StoreName
from ..stores import Store, StoreError
from .base import (
    NeedsAttention,
    RunContext,
    ShardBounds,
    Task,
    TaskFailed,
    TaskInterrupted,
    TaskParams,
)
from .repair import DEFAULT_WINDOW, repair_damage
from .verify import Checked, Verify, check_copies, remove_stale_temps

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
        verify: Verify = "checksum"  # `warc`: also each WARC record's digest (tasks/verify.py)
        repair: bool = False  # repair what the check found damaged, in the same run
        verified_within: Duration = DEFAULT_WINDOW  # repair: how fresh a source must be
        repair_from_sites: bool = True  # repair: also from copies other sites confirmed
        # Forget the store's matching checks older than this that a later check repeats; a
        # copy's latest check and every finding of damage stay. None: every check is kept.
        keep_checks: Duration | None = None

        def written_stores(self) -> dict[str, list[str]]:
            """Repair writes into the checked store: `validate` refuses a read-only one."""
            return {"repair": [self.store_name]} if self.repair else {}

    def run(self, ctx: RunContext) -> None:
        params: CheckIntegrityTask.Params = ctx.params
        store = _store(ctx, params)
        now = ctx.now()
        verified_before = created_after = None
        if params.rolling:
            verified_before = now - params.cycle
        elif params.age_in_days is not None:
            created_after = now - timedelta(days=params.age_in_days)
        due = (store.name, verified_before, created_after)
        _forget_old_checks(ctx, params)
        total = ctx.catalog.count_due(*due, limit=params.files_per_run)
        pages = ctx.catalog.due_for_check(*due, limit=total)
        _check(ctx, store, (ctx.catalog.copies(ids) for ids in pages), total, params)

    # -- fan_out: shards are ranges of instance ids ------------------------------------------

    splits = True

    def plan_shards(self, ctx: RunContext, size: int, since: datetime) -> Iterator[ShardBounds]:
        params: CheckIntegrityTask.Params = ctx.params
        verified_before, created_after = _due_since(params, since)
        _forget_old_checks(ctx, params)  # once per run: the shards only check
        ranges = ctx.catalog.due_id_ranges(
            params.store_name, size, verified_before, created_after, limit=params.files_per_run
        )
        for after_id, upto_id in ranges:
            yield ShardBounds(after_id=after_id, upto_id=upto_id)

    def run_shard(self, ctx: RunContext, shard: ShardBounds, since: datetime) -> None:
        params: CheckIntegrityTask.Params = ctx.params
        store = _store(ctx, params)
        assert shard.upto_id is not None
        verified_before, created_after = _due_since(params, since)
        due = ctx.catalog.due_copies_between(
            store.name, shard.after_id, shard.upto_id, verified_before, created_after
        )
        _check(ctx, store, [due], len(due), params)


def _store(ctx: RunContext, params: CheckIntegrityTask.Params) -> Store:
    try:
        return ctx.stores[params.store_name]
    except (UnknownStore, StoreError) as exc:
        raise TaskFailed(str(exc)) from None


def _forget_old_checks(ctx: RunContext, params: CheckIntegrityTask.Params) -> None:
    if params.keep_checks is None:
        return
    before = ctx.now() - params.keep_checks
    if forgotten := ctx.catalog.forget_old_checks(params.store_name, before):
        ctx.event(
            "checks forgotten", store=params.store_name, checks=forgotten, before=before.isoformat()
        )


def _due_since(
    params: CheckIntegrityTask.Params, since: datetime
) -> tuple[datetime, datetime | None]:
    """``verified_before`` and ``created_after`` of a fanned-out run queued at ``since``:
    a copy verified since then is done, so a shard claimed again skips it."""
    if params.rolling:
        return since - params.cycle, None
    window = None if params.age_in_days is None else timedelta(days=params.age_in_days)
    return since, None if window is None else since - window


def _check(
    ctx: RunContext,
    store: Store,
    due: Iterable[list[Copy]],
    total: int,
    params: CheckIntegrityTask.Params,
) -> None:
    """Check the ``due`` copies (pages of them, ``total`` in all), repair them if asked, and
    end the run (or shard) as what was found requires."""
    ctx.progress(total=total)
    algorithm = params.algorithm or ctx.catalog.checksum
    checked = Checked()
    try:
        check_copies(ctx, store, _copies(ctx, store, due), algorithm, checked, params.verify)
    except StoreError as exc:
        raise TaskFailed(str(exc)) from None
    ctx.event("checked", store=store.name, **checked.to_json())
    if params.repair:
        # A WARC damaged before its checksum was recorded is not repaired: every copy that
        # matches that checksum may hold the same damage, so it stays for a person.
        damaged = [Damaged(f.copy, CORRUPT) for f in checked.corrupt]
        damaged += [Damaged(c, MISSING) for c in checked.missing]
        repair_damage(ctx, damaged, params.verified_within, params.repair_from_sites)
    if damaged_paths := (checked.warc_damage() if params.repair else checked.damaged()):
        names = ", ".join(damaged_paths[:NAMED_IN_ERROR])
        more = len(damaged_paths) - NAMED_IN_ERROR
        raise NeedsAttention(
            f"{len(damaged_paths)} corrupt copies on store {store.name}: {names}"
            + (f" and {more} more" if more > 0 else "")
        )
    if checked.stopped:
        raise TaskInterrupted("stopped before every due copy was checked; the next run resumes")


def _copies(ctx: RunContext, store: Store, pages: Iterable[list[Copy]]) -> Iterator[Copy]:
    """The due copies, a page at a time as the hashing reaches them; what killed writers
    left beside them is cleared first."""
    for copies in pages:
        remove_stale_temps(ctx, store, [c.path for c in copies])
        yield from copies
