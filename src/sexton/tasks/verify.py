"""Re-hashing copies on a store and recording what was found: the fixity step that
``check_integrity`` runs on a whole store, ``create_local_clone`` on a source whose copy
failed, and ``rolling_deletion`` on the copies it is about to rely on."""

from __future__ import annotations

import errno
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

from ..catalog import Copy, Finding
from ..checksums import Checksum, Source, hash_files_parallel
from ..stores import Store
from ..stores.paths import STALE_TEMP_AGE
from ..warc import WarcDamage, is_warc, warc_damage
from .base import RunContext

# What a check reads beyond the file checksum: ``warc`` also checks each WARC record's digest
# and each gzip member, which catches damage done before the checksum was taken.
Verify = Literal["checksum", "warc"]

# Errors that mean the file is gone, not merely unreadable right now.
GONE_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR})


@dataclass
class Checked:
    """What checking a set of copies found, for the run's summary event."""

    verified: int = 0
    corrupt: list[Finding] = field(default_factory=list)
    missing: list[Copy] = field(default_factory=list)
    unreadable: int = 0  # read errors other than "gone": left for the next check
    stopped: bool = False  # should_stop() became true before every copy was checked
    # Copies whose checksum matched but whose WARC records did not: corrupt all the same.
    bad_warcs: list[tuple[Copy, WarcDamage]] = field(default_factory=list)

    def damaged(self) -> list[str]:
        """Each damaged copy's path (and where in it, for a WARC), for the run's error."""
        return [f.copy.path for f in self.corrupt] + self.warc_damage()

    def warc_damage(self) -> list[str]:
        """Each copy whose WARC records are damaged, with where in it."""
        return [f"{copy.path} ({damage})" for copy, damage in self.bad_warcs]

    def to_json(self) -> dict[str, int]:
        return {
            "verified": self.verified,
            "corrupt": len(self.corrupt) + len(self.bad_warcs),
            "missing": len(self.missing),
            "unreadable": self.unreadable,
        }


# Outcomes recorded per transaction: a run killed mid-check loses at most this much hashing.
RECORD_EVERY = 256


@dataclass(frozen=True)
class _Opener:
    """Opens one copy; hash results carry it back, so each result finds its copy."""

    store: Store
    copy: Copy
    algorithm: str  # the one its file's checksum is in, so each copy is read once

    def __call__(self) -> BinaryIO:
        return self.store.open_read(self.copy.path)


def _algorithms_of(source: Source) -> list[str]:
    assert isinstance(source, _Opener)
    return [source.algorithm]


def algorithm_of(copy: Copy, default: str) -> str:
    """The algorithm a copy must be hashed in to compare it with its file's checksum."""
    return Checksum.parse(copy.checksum).algo if copy.checksum else default


def check_copies(
    ctx: RunContext,
    store: Store,
    copies: Iterable[Copy],
    default_algorithm: str,
    into: Checked,
    verify: Verify = "checksum",
) -> None:
    """Hash ``copies`` (all on ``store``) several at a time and record each outcome.

    ``copies`` is read lazily as one stream, so the hashing threads stay busy across a
    large file's tail. Outcomes are recorded ``RECORD_EVERY`` at a time, each batch in one
    transaction. With ``verify="warc"`` each WARC copy hashed is read once more, by warcio,
    to check its records, before its checksum is recorded.
    """
    openers = (_Opener(store, c, algorithm_of(c, default_algorithm)) for c in copies)
    hashed: list[tuple[Copy, Checksum]] = []
    gone: list[Copy] = []
    for result in hash_files_parallel(openers, _algorithms_of):
        assert isinstance(result.source, _Opener)
        copy = result.source.copy
        if result.error is None:
            hashed.append((copy, result.checksums[result.source.algorithm]))
        elif result.error.errno in GONE_ERRNOS:
            gone.append(copy)
        else:
            into.unreadable += 1
            ctx.event("unreadable", store=store.name, path=copy.path, error=result.error)
        ctx.progress(items=1, bytes=result.size)
        if ctx.should_stop():
            into.stopped = True
            break
        if len(hashed) + len(gone) >= RECORD_EVERY:
            _record(ctx, store, hashed, gone, into, verify)
            hashed, gone = [], []
    _record(ctx, store, hashed, gone, into, verify)


def _record(
    ctx: RunContext,
    store: Store,
    hashed: list[tuple[Copy, Checksum]],
    gone: list[Copy],
    into: Checked,
    verify: Verify,
) -> None:
    if not hashed and not gone:
        return
    if verify == "warc":  # before the checksums are recorded: a damaged WARC is never verified
        hashed = _without_bad_warcs(ctx, store, hashed, into)
    for finding in ctx.catalog.record_checks(hashed, ctx.run_id):
        if finding.ok:
            into.verified += 1
            continue
        into.corrupt.append(finding)
        ctx.event(
            "corrupt",
            store=store.name,
            path=finding.copy.path,
            expected=finding.expected,
            actual=finding.actual,
        )
    if gone:
        ctx.catalog.mark_missing([c.instance_id for c in gone], ctx.run_id)
        into.missing.extend(gone)
        for copy in gone:
            ctx.event("missing", store=store.name, path=copy.path)


def _without_bad_warcs(
    ctx: RunContext, store: Store, hashed: list[tuple[Copy, Checksum]], into: Checked
) -> list[tuple[Copy, Checksum]]:
    """The hashed copies whose records are sound, if they are WARCs. A damaged WARC is
    recorded corrupt; one unreadable now is left for the next check. Read one at a time:
    warcio's parsing holds the GIL, and threads measured no faster."""
    sound = []
    for copy, actual in hashed:
        found = _read_warc(store, copy) if is_warc(copy.path) else []
        if isinstance(found, OSError):
            into.unreadable += 1
            ctx.event("unreadable", store=store.name, path=copy.path, error=found)
        elif found:
            ctx.catalog.record_bad_content(copy, str(found[0]), ctx.run_id)
            into.bad_warcs.append((copy, found[0]))
            for damage in found:
                ctx.event(
                    "corrupt",
                    store=store.name,
                    path=copy.path,
                    offset=damage.offset,
                    problem=damage.problem,
                )
        else:
            sound.append((copy, actual))
    return sound


def _read_warc(store: Store, copy: Copy) -> list[WarcDamage] | OSError:
    try:
        with store.open_read(copy.path) as f:
            return warc_damage(f)
    except OSError as exc:  # gone or unreadable since it was hashed
        return exc


def remove_stale_temps(ctx: RunContext, store: Store, names: Iterable[str]) -> None:
    """Remove what killed writers left beside these files: temporary files unwritten for
    ``STALE_TEMP_AGE`` in their directories (see ``Store.remove_stale_temps``)."""
    older_than = ctx.now().timestamp() - STALE_TEMP_AGE
    removed = store.remove_stale_temps(sorted({posixpath.dirname(n) for n in names}), older_than)
    for path in removed:
        ctx.event("stale temporary file removed", store=store.name, path=path)
