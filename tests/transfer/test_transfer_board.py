"""Transfers as people and monitoring see them, on both databases: the API list, the
dashboard section and the metrics."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from sexton.api.server import ApiServer
from sexton.catalog import Arrival, Catalog
from sexton.clock import FakeClock
from sexton.engine.service import Instance
from sexton.transfer.records import FAILED, Candidate, TransferBook

API = "api: {listen: '127.0.0.1:0', tokens: {admin: a-token, read: r-token, site: s-token}}\n"
CHECKSUM = "md5:" + "1" * 32


def test_transfers_are_listed_shown_and_measured(
    open_instance: Callable[..., Instance], clock: FakeClock
) -> None:
    instance = open_instance(API + "tasks: []\n")
    catalog = Catalog(instance.engine, clock)
    book = TransferBook(instance.engine, clock)
    chosen = []
    for name in ("a.warc", "b.warc"):
        file_id = catalog.ingest(Arrival(name, 10, CHECKSUM, "store", name, "test"))
        chosen.append(Candidate(file_id, name, 10, CHECKSUM, "store"))
    first, second = book.start_outgoing("far", "batch-1", chosen)
    book.set_state([second], FAILED, "no room on store store")

    server = ApiServer(instance)
    url = server.start()
    try:
        reader = httpx.Client(base_url=url, headers={"Authorization": "Bearer r-token"})
        listed = reader.get("/api/v1/transfers").json()
        assert [(t["id"], t["state"], t["size"]) for t in listed] == [
            (second, "failed", 10),
            (first, "initiated", 10),
        ]
        assert reader.get("/api/v1/transfers", params={"state": "failed"}).json()[0]["error"] == (
            "no room on store store"
        )
        assert reader.get("/api/v1/transfers", params={"state": "lost"}).status_code == 422
        page = reader.get("/").text
        assert "<h2>Transfers</h2>" in page and "b.warc" in page
        metrics = reader.get("/metrics").text
        assert 'sexton_transfers{direction="outgoing",state="failed"} 1.0' in metrics
        assert "sexton_transfer_oldest_in_flight_seconds 0.0" in metrics
        site = httpx.Client(base_url=url, headers={"Authorization": "Bearer s-token"})
        assert site.get("/api/v1/transfers").status_code == 403
    finally:
        server.stop()
