"""Two real sites on loopback (source on SQLite, destination on PostgreSQL): files sent over
HTTP arrive verified exactly once, and the source records each as a confirmed remote instance,
through kills, damage, a full destination and bad tokens."""

from __future__ import annotations

import time

import sqlalchemy as sa
from transfer_sites import (
    ADMIN,
    READ,
    TO_DESTINATION,
    Site,
    assert_arrived_once,
    prepare,
    source_body,
)

from sexton.db.catalog_tables import transfers


def test_every_file_arrives_verified_once_and_the_source_records_it(
    two_sites: tuple[Site, Site],
) -> None:
    source, destination = two_sites
    written = prepare(source, destination, 200)
    source.trigger("sender")
    source.trigger("consumer")
    destination.trigger("receiver")  # calls back: the source learns of each arrival at once

    assert_arrived_once(source, destination, written)
    assert {s for _n, s in source.transfer_states("outgoing")} == {"completed"}
    assert sorted(n for n, _s in destination.transfer_states("incoming")) == sorted(written)
    assert not any(destination.staging.rglob("*.warc"))
    # Nothing is left to send: a second round offers nothing.
    source.trigger("sender")
    source.trigger("checker")
    assert len(source.transfer_states("outgoing")) == 200

    shown = source.transfers("--limit", "1000")
    assert len(shown) == 200 and {t["state"] for t in shown} == {"completed"}
    with destination.client(READ) as api:
        incoming = api.get("/api/v1/transfers", params={"limit": 1000}).json()
        assert {(t["direction"], t["state"]) for t in incoming} == {("incoming", "completed")}
        assert sum(t["size"] for t in incoming) == sum(len(d) for d in written.values())
        metrics = api.get("/metrics").text
    assert 'sexton_transfers{direction="incoming",state="completed"} 200.0' in metrics
    received = sum(len(d) for d in written.values())
    assert f"sexton_transfer_bytes_received_total {float(received)}" in metrics


def test_a_destination_killed_mid_transfer_completes_after_restart_without_loss_or_duplicates(
    two_sites: tuple[Site, Site],
) -> None:
    source, destination = two_sites
    written = prepare(source, destination, 200)
    source.trigger("sender")
    with source.client(ADMIN) as api:
        consuming = api.post("/api/v1/tasks/consumer/runs").json()["id"]
    staged = sa.select(sa.func.count()).where(transfers.c.state == "staged")
    deadline = time.monotonic() + 120
    while destination.rows(staged)[0][0] < 40:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    destination.kill()
    with source.client(ADMIN) as api:
        while api.get(f"/api/v1/runs/{consuming}").json()["state"] in ("queued", "running"):
            time.sleep(0.1)
        assert api.get(f"/api/v1/runs/{consuming}").json()["state"] == "failed"
    assert len(list(destination.store.rglob("*.warc"))) == 0

    destination.start()
    source.trigger("consumer")
    destination.trigger("receiver")
    source.trigger("checker")
    assert_arrived_once(source, destination, written)
    outgoing = source.transfer_states("outgoing")
    assert sorted(n for n, _s in outgoing) == sorted(written)  # each sent in one transfer
    assert {s for _n, s in outgoing} == {"completed"}


def test_bytes_damaged_in_staging_are_never_registered_and_arrive_on_the_retry(
    two_sites: tuple[Site, Site],
) -> None:
    source, destination = two_sites
    written = prepare(source, destination, 10)
    source.trigger("sender")
    source.trigger("consumer")
    victim = sorted(written)[3]
    (staged,) = destination.staging.rglob(victim.rsplit("/", 1)[-1])
    data = bytearray(staged.read_bytes())
    data[100] ^= 0xFF
    staged.write_bytes(bytes(data))

    run = destination.trigger("receiver", expect="failed")
    assert "1 staged files failed verification" in run["error"]
    assert victim not in destination.present_copies()
    assert not (destination.store / victim).exists()
    assert not staged.exists()
    assert (victim, "failed") in source.transfer_states("outgoing")  # told by the callback

    source.trigger("sender")  # offers the failed file again
    source.trigger("consumer")
    destination.trigger("receiver")
    assert_arrived_once(source, destination, written)
    assert [s for n, s in source.transfer_states("outgoing") if n == victim] == [
        "failed",
        "completed",
    ]


def test_a_full_destination_refuses_clearly_and_the_source_keeps_its_files(
    two_sites: tuple[Site, Site],
) -> None:
    source, destination = two_sites
    small = "{url: 'file://{root}/store', capacity: 5000}"
    written = prepare(source, destination, 6, destination_store=small)
    run = source.trigger("sender", expect="failed")
    assert "destination refused 4 files" in run["error"]
    assert "no room on store store" in run["error"]
    states = source.transfer_states("outgoing")
    assert sorted(s for _n, s in states) == ["cancelled"] * 4 + ["initiated"] * 2
    source.trigger("consumer")
    destination.trigger("receiver")
    assert len(destination.present_copies()) == 2
    assert source.present_copies() == {name: 1 for name in written}
    assert all((source.store / name).exists() for name in written)
    run = source.trigger("sender")  # not offered again before reoffer_refused_after (1d)
    assert len(source.transfer_states("outgoing")) == 6


def test_wrong_or_read_only_tokens_between_sites_are_refused_and_change_nothing(
    two_sites: tuple[Site, Site],
) -> None:
    source, destination = two_sites
    prepare(source, destination, 3)
    offer = {
        "source": "source",
        "batch": "b1",
        "files": [{"id": 1, "name": "x.warc", "size": 1, "checksum": "md5:" + "0" * 32}],
    }
    for token, status in ((None, 401), ("wrong", 403), (READ, 403)):
        with destination.client(token) as api:
            assert api.post("/api/v1/transfers/stage", json=offer).status_code == status
            assert api.put("/api/v1/transfers/incoming/1/data", content=b"x").status_code == status
    with destination.client(TO_DESTINATION) as api:  # a site token makes only transfer calls
        assert api.get("/api/v1/tasks").status_code == 403
        assert api.get("/api/v1/transfers").status_code == 403
        assert api.post("/api/v1/tasks/receiver/runs").status_code == 403
    assert destination.transfer_states("incoming") == []

    source.stop()
    source.write_config(source_body(destination).replace("${TO_DESTINATION}", READ))
    source.start()
    run = source.trigger("sender", expect="failed")
    assert "403" in run["error"]
    assert destination.transfer_states("incoming") == []
    assert {s for _n, s in source.transfer_states("outgoing")} == {"failed"}
