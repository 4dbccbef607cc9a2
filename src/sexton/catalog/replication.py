"""The copies policy: which files hold fewer verified copies (or sites) than they need, and
which are **lost**.

A *verified copy* is a present local instance whose verified checksum equals the file's,
or a remote instance whose site confirmed the file's checksum (DESIGN §4). A file is
**lost** when it has neither: no good copy anywhere to repair or replicate from. Files never
hashed are judged by neither rule: there is nothing to verify their copies against yet.

Each file follows the ``copies:`` rule of the groups of the stores holding it (the
strictest, a store of no group following the global rule). Only the *candidates* are judged:
the files whose verified copies or sites, kept by triggers in ``file_copies``, are below the
largest rule, read by its indexes; every other file meets every rule. Every query here reads
one aggregate per file, in pages by file id (a keyset), so no list grows with the catalog.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    Subquery,
    and_,
    case,
    func,
    literal,
    select,
    union_all,
)

from sexton.config.models import CopiesSettings, Settings
from sexton.db.catalog_tables import file_copies, files, instances, remote_instances

from .copies import HELD_STATES
from .fixity import Copy, copies_query, fetch_copies
from .records import DELETED, PRESENT


@dataclass(frozen=True)
class CopiesPolicy:
    """The global rule, and the rule of each store that belongs to a group."""

    default: CopiesSettings = CopiesSettings()
    by_store: Mapping[str, CopiesSettings] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: Settings) -> CopiesPolicy:
        by_store = {
            name: settings.groups[store.group].copies
            for name, store in settings.stores.items()
            if store.group is not None and store.group in settings.groups
        }
        return cls(settings.copies, by_store)

    def rule(self, attribute: str) -> ColumnElement[Any]:
        """The rule's value for the ``instances`` row in the query (the global one where the
        row's store has no group, or the file has no live copy)."""
        default = getattr(self.default, attribute)
        if not self.by_store:
            return literal(default)
        chosen = {name: getattr(rule, attribute) for name, rule in self.by_store.items()}
        return case(chosen, value=instances.c.store, else_=default)

    def candidates(self, after_id: int | None = None, upto_id: int | None = None) -> Select[Any]:
        """The hashed files (by id in ``(after_id, upto_id]``, if given) that may be below
        their rule: fewer verified copies than the largest ``min``, or sites than the largest
        ``sites``, of any rule."""
        rules = [self.default, *self.by_store.values()]
        below = file_copies.c.copies < max(rule.min for rule in rules)
        most_sites = max(rule.sites for rule in rules)
        if most_sites > 1:  # below one site is no copy at all, which ``min`` (>= 1) covers
            below = below | (file_copies.c.sites < most_sites)
        query = select(file_copies.c.file_id).where(below)
        if after_id is not None:
            query = query.where(file_copies.c.file_id > after_id)
        if upto_id is not None:
            query = query.where(file_copies.c.file_id <= upto_id)
        return query


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A file below its copies rule: what it holds and what it needs."""

    file_id: int
    name: str
    copies: int  # verified copies: local ones plus confirmed remote ones
    local: int  # of which on this site's stores
    sites: int  # sites holding a verified copy, this one included
    needs_copies: int
    needs_sites: int

    @property
    def missing_copies(self) -> int:
        return max(self.needs_copies - self.copies, 0)


@dataclass(frozen=True, slots=True)
class ReplicationCounts:
    """Files below their copies rule and lost files, in all and per store holding them."""

    under_replicated: int
    lost: int
    by_store: Mapping[str, tuple[int, int]]  # store -> (under_replicated, lost)


@dataclass(frozen=True, slots=True)
class PolicyPage:
    """The files below their rule among one range of file ids, and where the range ended
    (None once it reached the last file)."""

    shortfalls: list[Shortfall]
    last_id: int | None


def _tally(
    policy: CopiesPolicy, after_id: int | None = None, upto_id: int | None = None
) -> Subquery:
    """One row per candidate file (by id in ``(after_id, upto_id]``, if given): the copies
    it needs and the verified copies it has."""
    live = and_(instances.c.file_id == files.c.id, instances.c.state != DELETED)
    verified = and_(
        live, instances.c.state == PRESENT, instances.c.verified_checksum == files.c.checksum
    )
    confirmed = and_(
        remote_instances.c.file_id == files.c.id, remote_instances.c.checksum == files.c.checksum
    )

    def needs(attribute: str) -> ColumnElement[Any]:
        strictest = select(func.max(policy.rule(attribute))).where(live).scalar_subquery()
        return func.coalesce(strictest, getattr(policy.default, attribute))

    # Per file, subqueries on the file-id indexes rather than a join grouped by file: a
    # grouped join let PostgreSQL hash the whole instances table for every page.
    query = select(
        files.c.id,
        files.c.name,
        needs("min").label("needs_copies"),
        needs("sites").label("needs_sites"),
        select(func.count()).where(verified).scalar_subquery().label("local"),
        select(func.count()).where(confirmed).scalar_subquery().label("remote"),
        select(func.count(func.distinct(remote_instances.c.site)))
        .where(confirmed)
        .scalar_subquery()
        .label("remote_sites"),
    ).where(files.c.id.in_(policy.candidates(after_id, upto_id)))
    return query.subquery("tally")


def _judged(tally: Subquery) -> tuple[ColumnElement[Any], ColumnElement[bool], ColumnElement[bool]]:
    """(sites held, below the rule, lost) for a row of ``_tally``."""
    copies = tally.c.local + tally.c.remote
    sites = case((tally.c.local > 0, 1), else_=0) + tally.c.remote_sites
    below = (copies < tally.c.needs_copies) | (sites < tally.c.needs_sites)
    return sites, below, copies == 0


def below_policy(
    connection: Connection,
    policy: CopiesPolicy,
    after_id: int,
    scan: int,
    end_id: int | None = None,
) -> PolicyPage:
    """The files below their rule among the next ``scan`` files after ``after_id`` (by id),
    none beyond ``end_id`` (a shard's last file; the page's ``last_id`` is None on reaching it).

    The range is bounded first, by the primary key: judging "the next files below the rule"
    instead made each page aggregate every file after it (measured: 150 ms a page at 100,000
    files on SQLite, growing with the catalog), as the filter is on the aggregate.
    """
    bound = select(files.c.id).where(files.c.id > after_id).order_by(files.c.id)
    if end_id is not None:
        bound = bound.where(files.c.id <= end_id)
    upto_id = connection.execute(bound.offset(scan - 1).limit(1)).scalar_one_or_none()
    if upto_id == end_id:
        upto_id = None  # the page reaches the shard's end: nothing follows it
    tally = _tally(policy, after_id, end_id if upto_id is None else upto_id)
    sites, below, _lost = _judged(tally)
    query = (
        select(
            tally.c.id,
            tally.c.name,
            tally.c.local + tally.c.remote,
            tally.c.local,
            sites,
            tally.c.needs_copies,
            tally.c.needs_sites,
        )
        .where(below)
        .order_by(tally.c.id)
    )
    return PolicyPage([Shortfall(*row) for row in connection.execute(query)], upto_id)


def replication_counts(connection: Connection, policy: CopiesPolicy) -> ReplicationCounts:
    """How many files are below their rule and how many are lost, in all and per store
    (a file counts on every store with a live copy of it)."""
    tally = _tally(policy)
    _sites, below, lost = _judged(tally)
    # The files below their rule, judged once: one statement reads them twice (in all, and
    # per store), which makes PostgreSQL materialise them instead of judging every file again
    # for each of its copies (measured: 5.4 s against 1.1 s at 100,000 files).
    judged = select(tally.c.id, case((lost, 1), else_=0).label("lost")).where(below).cte("judged")
    in_all = select(literal(None, String).label("store"), func.count(), func.sum(judged.c.lost))
    per_store = (
        select(instances.c.store, func.count(), func.sum(judged.c.lost))
        .join_from(judged, instances, instances.c.file_id == judged.c.id)
        .where(instances.c.state != DELETED)
        .group_by(instances.c.store)
    )
    under, gone, by_store = 0, 0, {}
    for store, n_below, n_lost in connection.execute(union_all(in_all, per_store)):
        if store is None:
            under, gone = int(n_below), int(n_lost or 0)
        else:
            by_store[store] = (int(n_below), int(n_lost))
    return ReplicationCounts(under, gone, by_store)


def verified_copies(
    connection: Connection, file_ids: Sequence[int], stores: Sequence[str]
) -> list[Copy]:
    """Present copies on ``stores`` whose verified checksum is their file's: the only ones
    a new copy may be made from. Oldest copy first."""
    query = copies_query().where(
        instances.c.file_id.in_(file_ids),
        instances.c.store.in_(stores),
        instances.c.state == PRESENT,
        instances.c.verified_checksum == files.c.checksum,
    )
    return fetch_copies(connection, query.order_by(instances.c.id))


def holders(connection: Connection, file_ids: Sequence[int]) -> dict[int, set[str]]:
    """The stores where each file has a copy in the way of a new one (present or corrupt)."""
    query = select(instances.c.file_id, instances.c.store).where(
        instances.c.file_id.in_(file_ids), instances.c.state.in_(HELD_STATES)
    )
    held: dict[int, set[str]] = {}
    for file_id, store in connection.execute(query):
        held.setdefault(file_id, set()).add(store)
    return held
