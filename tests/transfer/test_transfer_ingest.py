"""Ingesting staged files at the destination, on both databases: moved into the store by
renaming when staging and store share a filesystem, copied when they do not, and verified
either way, so damaged staged bytes are never registered and leave nothing in the store."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from sexton.catalog import Catalog, OpenStores
from sexton.db.catalog_tables import files, instances
from sexton.engine.service import Instance
from sexton.transfer.messages import OfferedFile, StageRequest
from sexton.transfer.records import Transfer
from sexton.transfer.staging import Receiver

NAME = "d1/file-0001.warc"
DATA = b"staged bytes " * 10_000


@pytest.fixture(params=["same filesystem", "another filesystem"])
def staging_root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """Staging beside the store (renamed in), or on /dev/shm, another filesystem (copied)."""
    if request.param == "same filesystem":
        (tmp_path / "staging").mkdir()
        yield tmp_path / "staging"
        return
    if not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == tmp_path.stat().st_dev:
        pytest.skip("no /dev/shm on another filesystem")
    root = Path(tempfile.mkdtemp(prefix="sexton-staging-", dir="/dev/shm"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def receiver(
    open_instance: Callable[..., Instance], tmp_path: Path, staging_root: Path
) -> Receiver:
    (tmp_path / "store").mkdir()
    instance = open_instance(
        "site: destination\n"
        f"stores: {{store: {{url: '{(tmp_path / 'store').as_uri()}'}}, "
        f"staging: {{url: '{staging_root.as_uri()}'}}}}\n"
        "transfer: {staging: staging, store: store}\n"
    )
    settings = instance.config.settings
    catalog = Catalog(instance.engine, instance.clock, settings.checksum)
    return Receiver(settings, catalog, OpenStores(settings.stores))


def staged(receiver: Receiver, data: bytes) -> Transfer:
    """Offer NAME with DATA's checksum, as a source would, and put ``data`` in staging."""
    checksum = f"sha256:{hashlib.sha256(DATA).hexdigest()}"
    offered = OfferedFile(id=7, name=NAME, size=len(DATA), checksum=checksum)
    (answer,) = receiver.stage(StageRequest(source="source", batch="b1", files=[offered]))
    assert answer.answer == "accepted" and answer.incoming_id and answer.staging_path
    with receiver.staging().write(answer.staging_path, ["sha256"], overwrite=True) as writer:
        writer.write(data)
    transfer = receiver.receiving(answer.incoming_id)
    assert transfer is not None
    receiver.staged(transfer)
    return transfer


def store_entries(receiver: Receiver) -> list[str]:
    root = Path(receiver.store().root)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def registered(receiver: Receiver) -> list[str]:
    query = sa.select(files.c.name).join(instances, instances.c.file_id == files.c.id)
    with receiver.catalog.engine.connect() as connection:
        return list(connection.execute(query).scalars())


def test_a_staged_file_moves_into_the_store_verified_and_registered(receiver: Receiver) -> None:
    transfer = staged(receiver, DATA)

    result = receiver.ingest(transfer)

    assert result.ok, result.confirmation
    assert store_entries(receiver) == [NAME]  # no temporary file left beside it
    assert (Path(receiver.store().root) / NAME).read_bytes() == DATA
    assert registered(receiver) == [NAME]
    assert receiver.staging().info(transfer.staging_path or "") is None


def test_damaged_staged_bytes_are_never_registered_and_leave_nothing(receiver: Receiver) -> None:
    transfer = staged(receiver, DATA[:-1] + b"!")  # same size, one byte off

    result = receiver.ingest(transfer)

    assert not result.ok
    assert "damaged" in (result.confirmation.error or "")
    assert store_entries(receiver) == []
    assert registered(receiver) == []
    assert receiver.staging().info(transfer.staging_path or "") is None
    assert receiver.book.by_ids([transfer.id])[0].state == "failed"
