"""What send_clone makes of the destination's answers, with two real sites on loopback
(source on SQLite, destination on PostgreSQL): a file refused for lack of room is offered
again after ``reoffer_refused_after``; one refused for another checksum is not until a person
runs ``sexton clear``, and stays listed; a source killed between asking and recording the
answers is reconciled."""

from __future__ import annotations

import time

import sqlalchemy as sa
from transfer_sites import (
    TO_DESTINATION,
    Site,
    assert_arrived_once,
    destination_body,
    destination_head,
    prepare,
    source_body,
    write_files,
)

from sexton.clock import SystemClock
from sexton.db import connect
from sexton.db.catalog_tables import files
from sexton.transfer.records import Candidate, TransferBook

WAIT = 5  # seconds a file refused for lack of room waits before it is offered again
SENDER = (
    "{name: sender, type: send_clone, destination: destination, send_batch_size: 64, "
    f"reoffer_refused_after: {WAIT}s}}"
)


def outgoing_states(source: Site) -> dict[str, list[str]]:
    states: dict[str, list[str]] = {}
    for name, state in source.transfer_states("outgoing"):
        states.setdefault(name, []).append(state)
    return states


def test_no_room_is_offered_again_after_the_wait_and_another_checksum_once_cleared(
    two_sites: tuple[Site, Site],
) -> None:
    source, destination = two_sites
    source.write_config(source_body(destination, SENDER))
    small = "{url: 'file://{root}/store', capacity: 5000}"
    destination.write_config(
        destination_head(source, small)
        + "tasks:\n"
        + "  - {name: receiver, type: receive_clone}\n"
        + "  - {name: scan, type: scan, store: store, checksum_new: true}\n"
    )
    written = write_files(source.store, 6)
    conflicting, *others = sorted(written)
    (destination.store / conflicting).parent.mkdir(parents=True)
    (destination.store / conflicting).write_bytes(b"another file by the same name")
    source.start()
    destination.start()
    source.trigger("scan")
    destination.trigger("scan")

    run = source.trigger("sender", expect="failed")
    refused_at = time.monotonic()
    assert "destination refused 4 files" in run["error"]
    assert f"3 offered again in {WAIT}s at the earliest" in run["error"]
    assert "1 not offered again until looked at (then `sexton clear sender`)" in run["error"]
    states = outgoing_states(source)
    assert states[conflicting] == ["failed"]
    assert sorted(s for n in others for s in states[n]) == ["cancelled"] * 3 + ["initiated"] * 2
    source.trigger("sender")  # within the wait: nothing offered again
    assert len(source.transfer_states("outgoing")) == 6
    source.trigger("consumer")
    destination.trigger("receiver")

    destination.stop()  # room is made
    destination.write_config(destination_body(source))
    destination.start()
    time.sleep(max(0.0, WAIT - (time.monotonic() - refused_at)))
    source.trigger("sender")
    source.trigger("consumer")
    destination.trigger("receiver")
    states = outgoing_states(source)
    assert states[conflicting] == ["failed"]  # never offered again
    assert (
        sorted(tuple(states[n]) for n in others)
        == [("cancelled", "completed")] * 3 + [("completed",)] * 2
    )
    assert set(source.confirmed_remote("destination")) == set(others)
    assert destination.present_copies() == {name: 1 for name in written}
    assert (destination.store / conflicting).read_bytes() == b"another file by the same name"

    (shown,) = source.transfers("--state", "failed")
    assert shown["name"] == conflicting and shown["refused"] is True
    assert "held here with another size or checksum" in shown["error"]

    source.clear("sender")  # a person has looked: the file is offered once more
    run = source.trigger("sender", expect="failed")
    assert "destination refused 1 files" in run["error"]  # the destination still differs
    assert outgoing_states(source)[conflicting] == ["failed", "failed"]
    first, again = sorted(source.transfers("--state", "failed"), key=lambda t: t["id"])
    assert (first["refused"], again["refused"]) == (False, True)
    assert "held here with another size or checksum" in first["error"]  # the reason stays
    source.trigger("sender")  # refused for good again: not offered until the next clear
    assert outgoing_states(source)[conflicting] == ["failed", "failed"]


def test_a_source_killed_between_asking_and_recording_is_reconciled(
    two_sites: tuple[Site, Site],
) -> None:
    source, destination = two_sites
    written = prepare(source, destination, 3)
    # What a send_clone killed after the destination answered leaves: its transfers as
    # recorded before asking, the destination's answers lost.
    engine = connect(source.database)
    try:
        with engine.connect() as connection:
            found = connection.execute(sa.select(files).order_by(files.c.id)).all()
        chosen = [Candidate(f.id, f.name, f.size, f.checksum, "store") for f in found]
        ids = TransferBook(engine, SystemClock()).start_outgoing("destination", "b1", chosen)
    finally:
        engine.dispose()
    offer = {
        "source": "source",
        "batch": "b1",
        "files": [
            {"id": i, "name": c.name, "size": c.size, "checksum": c.checksum}
            for i, c in zip(ids, chosen, strict=True)
        ],
    }
    with destination.client(TO_DESTINATION) as api:
        response = api.post("/api/v1/transfers/stage", json=offer)
    assert response.status_code == 200, response.text
    assert {a["answer"] for a in response.json()["files"]} == {"accepted"}

    source.trigger("hypervisor")  # settles them with the destination: failed at both ends
    assert {s for _n, s in source.transfer_states("outgoing")} == {"failed"}
    assert {s for _n, s in destination.transfer_states("incoming")} == {"failed"}
    source.trigger("sender")  # offered again
    source.trigger("consumer")
    destination.trigger("receiver")
    assert_arrived_once(source, destination, written)
    assert (
        sorted(s for _n, s in source.transfer_states("outgoing"))
        == ["completed"] * 3 + ["failed"] * 3
    )
