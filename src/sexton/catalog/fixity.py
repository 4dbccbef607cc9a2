"""Fixity: which copies are due for a check, and recording what a check found.

A check re-hashes a copy and compares it with the file's checksum. Agreement refreshes
``verified_at``; disagreement makes the copy ``corrupt`` and counts the damage in
``corrupt_files``; a file with no checksum yet gets the one just computed. Whatever it found,
each check is one row of ``fixity_checks``, written in the same transaction: a run's checks
can be counted, and a copy's history read, after later checks have moved ``verified_at`` on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, Select, bindparam, delete, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from sexton.checksums import Checksum
from sexton.db.catalog_tables import corrupt_files, files, fixity_checks, instances

from .records import CORRUPT, MISSING, PRESENT, CheckRecord

# What a check found, as ``fixity_checks.outcome`` records it.
MATCH: Final = "match"
MISMATCH: Final = "mismatch"
DAMAGED: Final = "damaged"  # the checksum matched but the content is damaged (a WARC record)
GONE: Final = "missing"


def found_in_words(outcome: str, checksum: str | None, detail: str | None) -> str:
    """What a logged check found, in words: ``catalog show`` and the PREMIS events say it
    alike. (``detail`` of a mismatch is the checksum expected; ``checksum`` what was read.)"""
    if outcome == MATCH:
        return "checksum matched the catalog's"
    if outcome == MISMATCH:
        return f"{detail}, found {checksum}"
    if outcome == DAMAGED:
        return f"checksum matched, content damaged: {detail}"
    return "the copy was gone"


# The columns of ``Copy``, in order.
CopyQuery = Select[int, int, str, str, str, int, str | None]


@dataclass(frozen=True, slots=True)
class Copy:
    """One present copy of a file, with what the catalog knew of the file when it was read."""

    instance_id: int
    file_id: int
    name: str  # the file's name: its path on any store it is copied to
    store: str
    path: str
    size: int
    checksum: str | None  # the file's recorded checksum (``algo:hex``), None if never hashed


@dataclass(frozen=True, slots=True)
class Finding:
    """The outcome of checking one copy: ``expected`` is what the catalog held at the time."""

    copy: Copy
    expected: str
    actual: Checksum

    @property
    def comparable(self) -> bool:
        """Whether ``expected`` is a checksum in the algorithm ``actual`` was computed in."""
        recorded = _parsed(self.expected)
        return recorded is not None and recorded.algo == self.actual.algo

    @property
    def ok(self) -> bool:
        return _parsed(self.expected) == self.actual


def _parsed(recorded: str) -> Checksum | None:
    """A recorded checksum (``algo:hex``, or librarian's bare md5); None if malformed."""
    try:
        return Checksum.parse(recorded)
    except ValueError:
        return None


def file_age(created_after: datetime) -> ColumnElement[bool]:
    """Files that came into being after ``created_after`` (their mtime, else their ingest)."""
    return func.coalesce(files.c.created_at, files.c.ingested_at) >= created_after


def copies_query() -> CopyQuery:
    """Copies with their file's name, size and checksum; callers add the filters."""
    return select(
        instances.c.id,
        instances.c.file_id,
        files.c.name,
        instances.c.store,
        instances.c.path,
        files.c.size,
        files.c.checksum,
    ).join_from(instances, files, instances.c.file_id == files.c.id)


def fetch_copies(connection: Connection, query: CopyQuery) -> list[Copy]:
    return [Copy(*row) for row in connection.execute(query)]


@dataclass(frozen=True, slots=True)
class DueKey:
    """Where a page of due copies ended, in their order: the next page starts after it."""

    verified_at: datetime | None
    instance_id: int


def due_for_check(
    connection: Connection,
    store: str,
    verified_before: datetime | None,
    created_after: datetime | None,
    after: DueKey | None,
    limit: int,
) -> list[DueKey]:
    """The next ``limit`` present copies on ``store`` (not verified since ``verified_before``,
    if given), least recently verified (never verified first), resuming after the key ``after``.

    Keys only, a page at a time, so a run over a store of any size holds one page of integers,
    and a copy that cannot be read is left behind by the key instead of being met again. A
    copy the run verifies moves to the end of the order: a run takes no more than it counted
    at its start (``count_due``), so it stops before meeting it again.
    """
    due = select(instances.c.verified_at, instances.c.id).where(
        *_due(store, verified_before, created_after)
    )
    if created_after is not None:
        due = due.join_from(instances, files, instances.c.file_id == files.c.id)
    # Never verified, then verified, each in an order the index gives: one query ordered
    # NULLS FIRST would sort every due copy for each page on PostgreSQL, whose index keeps
    # NULLs last.
    page: list[DueKey] = []
    if after is None or after.verified_at is None:
        unverified = due.where(instances.c.verified_at.is_(None))
        if after is not None:
            unverified = unverified.where(instances.c.id > after.instance_id)
        query = unverified.order_by(instances.c.id).limit(limit)
        page = [DueKey(*row) for row in connection.execute(query)]
    if len(page) < limit:
        verified = due.where(instances.c.verified_at.is_not(None))
        if after is not None and after.verified_at is not None:
            verified = verified.where(
                instances.c.verified_at >= after.verified_at,  # a range the index scans
                or_(
                    instances.c.verified_at > after.verified_at,
                    instances.c.id > after.instance_id,
                ),
            )
        query = verified.order_by(instances.c.verified_at, instances.c.id)
        page += [DueKey(*row) for row in connection.execute(query.limit(limit - len(page)))]
    return page


def count_due(
    connection: Connection,
    store: str,
    verified_before: datetime | None,
    created_after: datetime | None,
    limit: int | None,
) -> int:
    """How many copies ``due_for_check`` will page through (at most ``limit``): a run's total."""
    due = select(instances.c.id).where(*_due(store, verified_before, created_after))
    if created_after is not None:
        due = due.join_from(instances, files, instances.c.file_id == files.c.id)
    query = select(func.count()).select_from(due.limit(limit).subquery())
    return int(connection.execute(query).scalar_one())


def _due(
    store: str, verified_before: datetime | None, created_after: datetime | None
) -> list[ColumnElement[bool]]:
    conditions = [instances.c.store == store, instances.c.state == PRESENT]
    if verified_before is not None:
        conditions.append(
            or_(instances.c.verified_at.is_(None), instances.c.verified_at < verified_before)
        )
    if created_after is not None:
        conditions.append(file_age(created_after))
    return conditions


def copies_by_id(connection: Connection, ids: Sequence[int]) -> list[Copy]:
    return fetch_copies(connection, copies_query().where(instances.c.id.in_(ids)))


def record_checks(
    connection: Connection,
    checked: Sequence[tuple[Copy, Checksum]],
    now: datetime,
    run_id: int | None,
) -> list[Finding]:
    """Record the checksums computed for copies, in one transaction; return each finding.

    The file's checksum is read again here, with the copies' rows locked, rather than taken
    from when the copies were selected: a rescan may have seen the file rewritten meanwhile
    (and reset its checksum), and comparing against the stale value would call a good copy
    corrupt. A file still without a checksum takes the one computed, unless another check
    recorded one first (``WHERE checksum IS NULL``), in which case that one is compared.
    A copy hashed in another algorithm than the one now recorded is left for the next check.
    """
    if not checked:
        return []
    ids = sorted(c.instance_id for c, _ in checked)
    # Lock order (instances, then files) is the one a rescan uses, so the two cannot deadlock.
    connection.execute(select(instances.c.id).where(instances.c.id.in_(ids)).with_for_update())
    current = _file_checksums(connection, {c.file_id for c, _ in checked})
    unset = {c.file_id: str(actual) for c, actual in checked if current[c.file_id] is None}
    if unset:
        connection.execute(
            update(files)
            .where(files.c.id == bindparam("fid"), files.c.checksum.is_(None))
            .values(checksum=bindparam("checksum")),
            [{"fid": fid, "checksum": text} for fid, text in unset.items()],
        )
        current.update(_file_checksums(connection, set(unset)))
    findings = [
        finding
        for copy, actual in checked
        if (finding := Finding(copy, str(current[copy.file_id]), actual)).comparable
    ]
    good = [f for f in findings if f.ok]
    if good:
        # The recorded text, not the computed one, is stored as verified: deletion compares
        # the two as strings, and a bare md5 must still count as a match.
        connection.execute(
            update(instances)
            .where(instances.c.id == bindparam("iid"))
            .values(state=PRESENT, verified_at=now, verified_checksum=bindparam("checksum")),
            [{"iid": f.copy.instance_id, "checksum": f.expected} for f in good],
        )
    for finding in findings:
        if not finding.ok:
            _record_damage(connection, finding.copy, finding.expected, str(finding.actual), now)
    _log(
        connection,
        [
            _check(f.copy.instance_id, MATCH, str(f.actual))
            if f.ok
            else _check(f.copy.instance_id, MISMATCH, str(f.actual), f"expected {f.expected}")
            for f in findings
        ],
        now,
        run_id,
    )
    return findings


def _check(
    instance_id: int, outcome: str, checksum: str | None, detail: str | None = None
) -> dict[str, Any]:
    return {"instance_id": instance_id, "outcome": outcome, "checksum": checksum, "detail": detail}


def _log(
    connection: Connection, checks: Sequence[dict[str, Any]], now: datetime, run_id: int | None
) -> None:
    if checks:
        connection.execute(
            fixity_checks.insert(), [{**c, "at": now, "run_id": run_id} for c in checks]
        )


def _file_checksums(connection: Connection, file_ids: set[int]) -> dict[int, str | None]:
    query = select(files.c.id, files.c.checksum).where(files.c.id.in_(file_ids))
    return {fid: checksum for fid, checksum in connection.execute(query)}


def record_bad_content(
    connection: Connection, copy: Copy, problem: str, now: datetime, run_id: int | None
) -> None:
    """A copy whose checksum matches but whose content says it is damaged (a WARC record's
    digest): corrupt like a mismatch, with ``problem`` where the actual checksum would be."""
    connection.execute(
        select(instances.c.id).where(instances.c.id == copy.instance_id).with_for_update()
    )
    _record_damage(connection, copy, copy.checksum or "", problem[:DAMAGE_TEXT], now)
    _log(connection, [_check(copy.instance_id, DAMAGED, copy.checksum, problem)], now, run_id)


DAMAGE_TEXT = 200  # the width of ``corrupt_files.actual`` and ``instances.verified_checksum``


def _record_damage(
    connection: Connection, copy: Copy, expected: str, actual: str, now: datetime
) -> None:
    """Mark the copy corrupt and count the damage: one ``corrupt_files`` row per copy.

    The instance row is locked (``record_checks``) before the count is read and bumped, so two
    checks of the same copy finishing together add two sightings instead of inserting twice.
    """
    connection.execute(
        update(instances)
        .where(instances.c.id == copy.instance_id)
        .values(state=CORRUPT, verified_at=now, verified_checksum=actual)
    )
    seen_again = connection.execute(
        update(corrupt_files)
        .where(corrupt_files.c.instance_id == copy.instance_id)
        .values(
            count=corrupt_files.c.count + 1,
            last_seen=now,
            expected=expected,
            actual=actual,
        )
    )
    if seen_again.rowcount == 0:
        connection.execute(
            corrupt_files.insert().values(
                file_id=copy.file_id,
                instance_id=copy.instance_id,
                store=copy.store,
                count=1,
                first_seen=now,
                last_seen=now,
                expected=expected,
                actual=actual,
            )
        )


def mark_missing(
    connection: Connection, instance_ids: Sequence[int], now: datetime, run_id: int | None
) -> None:
    """Copies a check found gone. Only present ones: a copy deleted meanwhile stays deleted."""
    gone = connection.execute(
        update(instances)
        .where(instances.c.id.in_(instance_ids), instances.c.state == PRESENT)
        .values(state=MISSING)
        .returning(instances.c.id)
    )
    _log(connection, [_check(iid, GONE, None) for iid in gone.scalars()], now, run_id)


def due_in_id_order(
    store: str, verified_before: datetime, created_after: datetime | None
) -> Select[int]:
    """Ids of present copies on ``store`` not verified since ``verified_before`` (and of files
    created after ``created_after``), in id order: what a fanned-out check cuts into shards.
    Id order, not verification order, so a run can be cut into id ranges by one pass over the
    index and each range selected again by a worker (``due_copies_between``)."""
    query = select(instances.c.id).where(
        instances.c.store == store,
        instances.c.state == PRESENT,
        or_(instances.c.verified_at.is_(None), instances.c.verified_at < verified_before),
    )
    if created_after is not None:
        query = query.join_from(instances, files, instances.c.file_id == files.c.id).where(
            file_age(created_after)
        )
    return query.order_by(instances.c.id)


def due_copies_between(
    store: str,
    verified_before: datetime,
    created_after: datetime | None,
    after_id: int | None,
    upto_id: int,
) -> CopyQuery:
    """The copies of ``due_in_id_order`` in ``(after_id, upto_id]``: one shard's, with their
    files, in one query.

    The id range is read on its own first (``MATERIALIZED``), so the planner reads it by
    primary key whatever its statistics say. Asked for the range and the store's due copies
    together, with the statistics of a catalog not analyzed since its first scan, PostgreSQL
    walked the store's whole ``(store, state, verified_at)`` index for every shard: 27 ms a
    shard on 20,000 copies, a cost that grows with the store, against 1.5 ms.
    """
    in_range = select(
        instances.c.id,
        instances.c.file_id,
        instances.c.store,
        instances.c.path,
        instances.c.state,
        instances.c.verified_at,
    ).where(instances.c.id <= upto_id)
    if after_id is not None:
        in_range = in_range.where(instances.c.id > after_id)
    copy = in_range.cte("in_range").prefix_with("MATERIALIZED")
    query = (
        select(
            copy.c.id,
            copy.c.file_id,
            files.c.name,
            copy.c.store,
            copy.c.path,
            files.c.size,
            files.c.checksum,
        )
        .join_from(copy, files, copy.c.file_id == files.c.id)
        .where(
            copy.c.store == store,
            copy.c.state == PRESENT,
            or_(copy.c.verified_at.is_(None), copy.c.verified_at < verified_before),
        )
    )
    if created_after is not None:
        query = query.where(file_age(created_after))
    return query.order_by(copy.c.id)


CHECKS_SHOWN = 20  # of a file's latest checks, by ``catalog show``


def forget_superseded_matches(
    connection: Connection, store: str, before: datetime, limit: int
) -> int:
    """Delete up to ``limit`` of the checks of copies on ``store`` that matched, were made
    before ``before``, and are not their copy's latest; return how many went.

    The log is the archive's fixity record, so only what a later check repeats is let go:
    each copy keeps its latest check, and every finding of damage stays.
    """
    checks = fixity_checks.c
    later = fixity_checks.alias("later")
    superseded = (
        select(later.c.id)
        .where(later.c.instance_id == checks.instance_id, later.c.id > checks.id)
        .exists()
    )
    on_store = (
        select(instances.c.id)
        .where(instances.c.id == checks.instance_id, instances.c.store == store)
        .exists()
    )
    chosen = (
        select(checks.id)
        .where(checks.outcome == MATCH, checks.at < before, on_store, superseded)
        .limit(limit)
    )
    return int(connection.execute(delete(fixity_checks).where(checks.id.in_(chosen))).rowcount)


def latest_checks(connection: Connection, file_id: int) -> list[CheckRecord]:
    """The file's latest checks, of all its copies, newest first."""
    checks = fixity_checks.c
    query = (
        select(
            instances.c.store,
            instances.c.path,
            checks.outcome,
            checks.checksum,
            checks.detail,
            checks.run_id,
            checks.at,
        )
        .join_from(fixity_checks, instances, checks.instance_id == instances.c.id)
        .where(instances.c.file_id == file_id)
        .order_by(checks.at.desc(), checks.id.desc())
        .limit(CHECKS_SHOWN)
    )
    return [CheckRecord(*row) for row in connection.execute(query)]
