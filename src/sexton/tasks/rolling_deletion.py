"""``rolling_deletion``: free a store of old files that enough verified copies hold elsewhere.

Every deletion goes through ``Catalog.delete_copy``, the one function that enforces
DESIGN §5 invariant 1; this task only chooses candidates and, with ``verify_checksums``,
re-hashes the copies it is about to rely on first, so one that rotted since its last check
is caught instead of counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from itertools import groupby

from pydantic import Field

from ..catalog import Copy, UnknownStore
from ..config.models import Duration, StoreName
from ..stores import StoreError
from ..transfer.downstream import reconfirm_remote
from .base import NeedsAttention, RunContext, Task, TaskFailed, TaskInterrupted, TaskParams
from .planning import PlanContext, PlannedAction
from .verify import Checked, check_copies

BATCH = 500  # candidates fetched per query


class RollingDeletionTask(Task):
    type = "rolling_deletion"
    plans = True

    class Params(TaskParams):
        store_name: StoreName
        age_in_days: int = Field(ge=0)  # only files older than this
        number_of_copies: int = Field(ge=1)  # other verified copies each deletion needs
        verify_checksums: bool = False
        max_verification_age: Duration = timedelta(days=30)
        dry_run: bool = False
        # Ask the sites holding copies to hash them again before one is relied on here.
        verify_downstream: bool = False
        # The librarian's switch and default: delete copies whose deletion policy is
        # `disallowed` too (every scanned copy is, unless registered otherwise). False keeps
        # them, so only copies registered `allowed` (backups, receive_clone ALLOWED) go.
        force_deletion: bool = True

    def run(self, ctx: RunContext) -> None:
        params: RollingDeletionTask.Params = ctx.params
        try:
            store = ctx.stores[params.store_name]
        except (UnknownStore, StoreError) as exc:
            raise TaskFailed(str(exc)) from None
        damage = Checked()
        deleted = kept = 0
        for copy in self._candidates(ctx, params, store.name):
            if ctx.should_stop():
                raise TaskInterrupted(f"stopped after deleting {deleted}; the next run resumes")
            if params.verify_checksums:
                self._verify_others(ctx, copy, damage)
            if params.verify_downstream and (unasked := reconfirm_remote(ctx, copy)):
                ctx.event("kept", path=copy.path, reason=f"could not ask {', '.join(unasked)}")
                kept += 1
                continue
            if params.dry_run:
                ctx.event("would delete", store=store.name, path=copy.path)
                continue
            try:
                gone = ctx.catalog.delete_copy(
                    copy,
                    store,
                    params.number_of_copies,
                    params.max_verification_age,
                    force=params.force_deletion,
                )
            except StoreError as exc:
                raise TaskFailed(str(exc)) from None
            if gone:
                deleted += 1
                ctx.progress(items=1, bytes=copy.size)
            else:
                kept += 1
        ctx.event(
            "rolling deletion", store=store.name, deleted=deleted, kept=kept, dry_run=params.dry_run
        )
        if damage.corrupt:
            names = ", ".join(f"{f.copy.store}:{f.copy.path}" for f in damage.corrupt)
            raise NeedsAttention(f"corrupt copies found while verifying: {names}")

    def plan(self, ctx: PlanContext) -> Iterator[PlannedAction]:
        params: RollingDeletionTask.Params = ctx.params
        if params.dry_run:  # its runs only say what they would delete
            return
        why = (
            f"older than {params.age_in_days} days; "
            f"{params.number_of_copies} verified copies elsewhere"
        )
        if params.verify_checksums:
            why += " (once they are hashed again)"
        if params.verify_downstream:
            why += " (if the sites holding copies answer)"
        # The run relies on verifications made no longer ago than this when it deletes.
        age = None if params.verify_checksums else params.max_verification_age
        for copy in self._candidates(ctx, params, params.store_name):
            yield PlannedAction(
                "delete",
                copy.store,
                copy.path,
                copy.size,
                why,
                tuple(ctx.catalog.vouchers(copy, age)),
            )

    @staticmethod
    def _candidates(
        ctx: PlanContext, params: RollingDeletionTask.Params, store: str
    ) -> Iterator[Copy]:
        """The copies the deletion rule lets go now, in batches; the plan lists the same."""
        older_than = ctx.now() - timedelta(days=params.age_in_days)
        # Copies about to be re-hashed may vouch on an old verification; delete_copy still
        # demands a fresh one.
        listing_age = None if params.verify_checksums else params.max_verification_age
        after = 0
        while batch := ctx.catalog.deletable(
            store,
            older_than,
            params.number_of_copies,
            listing_age,
            after_id=after,
            limit=BATCH,
            force=params.force_deletion,
        ):
            after = batch[-1].instance_id
            yield from batch

    @staticmethod
    def _verify_others(ctx: RunContext, copy: Copy, into: Checked) -> None:
        """Re-hash the file's other copies, recording what is found; copies on stores not
        configured or not reachable here keep their recorded verification."""
        others = sorted(ctx.catalog.other_copies(copy), key=lambda c: c.store)
        for store_name, group in groupby(others, key=lambda c: c.store):
            try:
                store = ctx.stores[store_name]
            except (UnknownStore, StoreError) as exc:  # its copies stay as last recorded
                ctx.event("unreachable", store=store_name, error=exc)
                continue
            check_copies(ctx, store, list(group), ctx.catalog.checksum, into)
