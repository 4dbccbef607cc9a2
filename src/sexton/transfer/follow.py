"""Bringing the source's outgoing transfers in line with what the destination reports:
used by ``check_consumed_queue`` (transfers in flight) and ``transfer_hypervisor`` (stuck
ones, which it also closes when the destination has no verified copy)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from .messages import MAX_BATCH, RemoteTransfer
from .records import COMPLETED, FAILED, ONGOING, STAGED, Transfer, TransferBook
from .sites import SiteClient


@dataclass
class Followed:
    """Counts of what following found, for the run's event."""

    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, what: str) -> None:
        self.counts[what] += 1


def by_site(found: Sequence[Transfer]) -> dict[str, list[Transfer]]:
    grouped: dict[str, list[Transfer]] = defaultdict(list)
    for transfer in found:
        grouped[transfer.site].append(transfer)
    return grouped


def follow(
    book: TransferBook,
    client: SiteClient,
    me: str,
    outgoing: Sequence[Transfer],
    followed: Followed,
    *,
    settle: bool = False,
) -> None:
    """Ask ``client``'s site about ``outgoing`` transfers and record its answers.

    Completed there with the file's checksum: completed here, with a confirmed remote
    instance. Failed there: failed here (sent again later). With ``settle`` (the
    hypervisor), anything not verified there is failed here and cancelled there.
    """
    for start in range(0, len(outgoing), MAX_BATCH):
        chunk = outgoing[start : start + MAX_BATCH]
        reply = client.status(me, [t.id for t in chunk])
        answers = {a.id: a for a in reply.files}
        given_up = []
        for transfer in chunk:
            answer = answers.get(transfer.id) or RemoteTransfer(id=transfer.id, state="unknown")
            if not _record(book, transfer, answer, followed) and settle:
                book.set_state(
                    [transfer.id], FAILED, f"reconciled: {answer.state} at {client.name}"
                )
                given_up.append(transfer.id)
                followed.add("failed")
        if given_up:
            client.cancel(me, given_up, "reconciled by the source's transfer_hypervisor")


def _record(
    book: TransferBook, transfer: Transfer, answer: RemoteTransfer, followed: Followed
) -> bool:
    """Record one answer; True when the transfer reached a final state or moved on."""
    if answer.state == COMPLETED and answer.store and answer.checksum:
        if book.complete_outgoing(transfer, answer.store, answer.checksum):
            followed.add("completed")
        else:
            book.set_state([transfer.id], FAILED, f"{transfer.site} verified another checksum")
            followed.add("mismatch")
        return True
    if answer.state in ("failed", "cancelled"):
        book.set_state([transfer.id], FAILED, f"at {transfer.site}: {answer.error}")
        followed.add("failed")
        return True
    if answer.state == STAGED and transfer.state == ONGOING:
        book.set_state([transfer.id], STAGED, only_from=(ONGOING,))
        followed.add("staged")
    return False
