"""The rest of the chain between two real sites: a shared staging store instead of HTTP,
the hypervisor settling stuck transfers, and deletions that count (and re-confirm) the
copies another site holds."""

from __future__ import annotations

from transfer_sites import (
    STORES,
    Site,
    destination_body,
    source_body,
    write_files,
)


def test_files_sent_through_a_shared_staging_store_arrive_and_stuck_ones_are_settled(
    two_sites: tuple[Site, Site],
) -> None:
    source, destination = two_sites
    shared = f"shared: {{url: 'file://{destination.staging}'}}"
    consumer = "{name: consumer, type: consume_queue, transport: store, staging_store: shared}"
    body = source_body(destination, consumer=consumer).replace(STORES, f"{STORES}, {shared}")
    source.write_config(body)
    destination.write_config(destination_body(source))
    written = write_files(source.store, 20)
    source.start()
    destination.start()
    source.trigger("scan")

    source.trigger("sender")  # offered and accepted, but nothing sent yet
    source.trigger("hypervisor")  # age_in_days: 0, so everything in flight is stuck
    assert {s for _n, s in source.transfer_states("outgoing")} == {"failed"}
    assert {s for _n, s in destination.transfer_states("incoming")} == {"failed"}

    source.trigger("sender")  # offered again
    source.trigger("consumer")  # written into the destination's staging store directly
    destination.trigger("receiver")
    assert destination.present_copies() == {name: 1 for name in written}
    for name, data in written.items():
        assert (destination.store / name).read_bytes() == data
    assert source.confirmed_remote("destination") == source.checksums()
    assert not any(destination.staging.rglob("*.warc"))


def test_deletion_counts_copies_the_destination_confirms_again_and_keeps_the_rest(
    two_sites: tuple[Site, Site],
) -> None:
    source, destination = two_sites
    deletion = (
        "  - {name: deleter, type: rolling_deletion, store_name: store, age_in_days: 0, "
        "number_of_copies: 1, verify_downstream: true}\n"
    )
    source.write_config(source_body(destination) + deletion)
    destination.write_config(destination_body(source))
    written = write_files(source.store, 4)
    source.start()
    destination.start()
    source.trigger("scan")
    source.trigger("sender")
    source.trigger("consumer")
    destination.trigger("receiver")
    assert source.confirmed_remote("destination") == source.checksums()

    damaged = sorted(written)[0]
    (destination.store / damaged).write_bytes(b"rot" + written[damaged][3:])
    source.trigger("deleter")

    kept = {name for name in written if (source.store / name).exists()}
    assert kept == {damaged}  # the destination could not re-confirm its copy
    assert set(source.confirmed_remote("destination")) == set(written) - {damaged}
    assert source.present_copies() == {damaged: 1}


def test_max_in_flight_holds_batches_back_until_the_destination_has_ingested(
    two_sites: tuple[Site, Site],
) -> None:
    source, destination = two_sites
    sender = "{name: sender, type: send_clone, destination: destination, send_batch_size: 5}"
    consumer = "{name: consumer, type: consume_queue, max_in_flight: 5}"
    source.write_config(source_body(destination, sender=sender, consumer=consumer))
    destination.write_config(destination_body(source))
    written = write_files(source.store, 10)
    source.start()
    destination.start()
    source.trigger("scan")
    source.trigger("sender")  # two batches of five

    source.trigger("consumer")
    assert sorted(s for _n, s in destination.transfer_states("incoming")) == (
        ["initiated"] * 5 + ["staged"] * 5
    )
    destination.trigger("receiver")  # the first five arrive and are confirmed
    source.trigger("consumer")  # now the second batch may go
    destination.trigger("receiver")
    assert destination.present_copies() == {name: 1 for name in written}
    assert source.confirmed_remote("destination") == source.checksums()
