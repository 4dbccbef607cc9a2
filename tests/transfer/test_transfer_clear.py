"""`sexton clear` of a ``send_clone`` task, on both databases: the files its destination
refused for good are offered again; what another destination refused, or refused only for
now, is left as it was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sexton.catalog import Arrival, Catalog
from sexton.clock import FakeClock
from sexton.engine.service import Instance
from sexton.transfer.messages import StageAnswer
from sexton.transfer.records import Candidate, TransferBook

SITES = "{url: 'http://127.0.0.1:9/', token: t}"
CONFIG = (
    f"sites: {{far: {SITES}, near: {SITES}}}\n"
    "tasks:\n"
    "  - {name: to-far, type: send_clone, destination: far}\n"
    "  - {name: to-near, type: send_clone, destination: near}\n"
)
CHECKSUM = "md5:" + "1" * 32


def test_clearing_a_sender_offers_again_what_its_destination_refused_for_good(
    open_instance: Callable[..., Instance], clock: FakeClock
) -> None:
    instance = open_instance(CONFIG)
    catalog = Catalog(instance.engine, clock)
    book = TransferBook(instance.engine, clock)
    chosen = []
    for name in ("differs", "no-room"):
        file_id = catalog.ingest(Arrival(name, 10, CHECKSUM, "store", name, "test"))
        chosen.append(Candidate(file_id, name, 10, CHECKSUM, "store"))
    for site in ("far", "near"):
        ids = book.start_outgoing(site, f"to-{site}", chosen)
        book.record_answers(
            site,
            f"to-{site}",
            ids,
            [
                StageAnswer(id=ids[0], answer="refused", reason="held with another checksum"),
                StageAnswer(id=ids[1], answer="refused", reason="no room", retry=True),
            ],
        )

    def offered(site: str) -> list[str]:
        found = book.candidates(site, None, None, 10, refused_before=clock.now() - timedelta(1))
        return [c.name for c in found]

    assert offered("far") == offered("near") == []
    instance.book.clear("to-far")
    assert offered("far") == ["differs"]  # "no-room" still waits out its day
    assert offered("near") == []  # another sender's refusals stand until it is cleared
