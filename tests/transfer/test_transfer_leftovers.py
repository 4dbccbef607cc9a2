"""Uploads that fail or are cut off leave nothing in the destination's staging store: at once
when the destination lives on, and once stale, by its next receive_clone run, when it was
killed mid-upload. A retried upload of the same file still arrives. Two real sites on
loopback (source on SQLite, destination on PostgreSQL)."""

from __future__ import annotations

import os
import time

from transfer_sites import (
    TO_DESTINATION,
    Site,
    assert_arrived_once,
    half_upload,
    prepare,
    temporary_files,
    wait_for,
)

from sexton.stores.paths import STALE_TEMP_AGE
from sexton.transfer.messages import CHECKSUM_HEADER


def backdate(path: os.PathLike[str], seconds: float) -> None:
    """Make a file look last written ``seconds`` ago, as a writer killed then would leave it."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_an_upload_that_fails_or_is_cut_off_leaves_nothing_and_the_retry_arrives(
    two_sites: tuple[Site, Site],
) -> None:
    source, destination = two_sites
    written = prepare(source, destination, 4)
    source.trigger("sender")
    checksums, incoming = source.checksums(), destination.incoming()
    cut, damaged = sorted(written)[:2]

    with half_upload(destination, incoming[cut], written[cut], checksums[cut]):
        assert len(temporary_files(destination.staging)) == 1
    wait_for(lambda: not temporary_files(destination.staging), "the partial file to go")

    bad = bytearray(written[damaged])
    bad[10] ^= 0xFF
    with destination.client(TO_DESTINATION) as api:
        response = api.put(
            f"/api/v1/transfers/incoming/{incoming[damaged]}/data",
            content=bytes(bad),
            headers={CHECKSUM_HEADER: checksums[damaged]},
        )
    assert response.status_code == 422, response.text
    assert "nothing was kept" in response.json()["detail"]

    assert not temporary_files(destination.staging)
    assert not [p for p in destination.staging.rglob("*") if p.is_file()]  # nothing staged
    assert {s for _n, s in destination.transfer_states("incoming")} == {"initiated"}
    source.trigger("consumer")  # sends both again, whole
    destination.trigger("receiver")
    assert_arrived_once(source, destination, written)


def test_what_a_killed_upload_left_goes_once_stale_and_the_retry_arrives(
    two_sites: tuple[Site, Site],
) -> None:
    source, destination = two_sites
    written = prepare(source, destination, 4)
    source.trigger("sender")
    checksums, incoming = source.checksums(), destination.incoming()
    first, second = sorted(written)[:2]

    with (
        half_upload(destination, incoming[first], written[first], checksums[first]),
        half_upload(destination, incoming[second], written[second], checksums[second]),
    ):
        destination.kill()
    destination.start()
    stale, fresh = temporary_files(destination.staging)
    backdate(stale, STALE_TEMP_AGE + 3600)
    backdate(fresh, STALE_TEMP_AGE - 3600)  # maybe a live upload that stalled: kept for now

    source.trigger("consumer")  # the same files, sent again
    destination.trigger("receiver")
    assert_arrived_once(source, destination, written)
    assert temporary_files(destination.staging) == [fresh]
    removed = stale.relative_to(destination.staging)
    assert f"stale temporary file removed store=staging path={removed}" in destination.events(
        "receiver"
    )

    # Its transfer is done, but its directory is still looked at until nothing there can
    # be newer than the stale age.
    backdate(fresh, STALE_TEMP_AGE + 60)
    destination.trigger("receiver")
    assert temporary_files(destination.staging) == []
    removed = fresh.relative_to(destination.staging)
    assert f"stale temporary file removed store=staging path={removed}" in destination.events(
        "receiver"
    )
    assert_arrived_once(source, destination, written)
