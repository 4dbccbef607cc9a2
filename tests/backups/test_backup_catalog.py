"""Backups in the catalog: each backup is a file with a verified copy on its destination
store, and retention's deletions are recorded there like any other."""

from __future__ import annotations

from backup_support import DAY, run_task

from sexton.backups import BackupBook
from sexton.catalog import Catalog

NIGHTLY = (
    "tasks:\n  - name: nightly\n    type: backup\n    destination: vault\n"
    "    source: {command: [printf, backup], suffix: txt}\n"
)


def catalog_of(instance) -> Catalog:
    return Catalog(instance.engine, instance.clock)


def test_every_backup_is_a_catalogued_file_with_a_verified_copy(open_instance, store_dir):
    instance = open_instance(f"stores:\n  vault: {{url: '{store_dir.as_uri()}'}}\n" + NIGHTLY)
    assert run_task(instance, "nightly").state == "succeeded"
    (backup,) = BackupBook(instance.engine).of_task("nightly")
    found = catalog_of(instance).show(backup.name)
    assert (found.file.size, found.file.checksum) == (backup.size, backup.checksum)
    assert found.file.source == "backup:nightly"
    (copy,) = found.instances
    assert (copy.store, copy.path, copy.state) == ("vault", backup.name, "present")
    assert copy.verified_checksum == backup.checksum and copy.deletion_policy == "allowed"


def test_retention_marks_the_copies_it_deletes_deleted_in_the_catalog(
    open_instance, clock, store_dir
):
    instance = open_instance(
        f"stores:\n  vault: {{url: '{store_dir.as_uri()}'}}\n"
        + NIGHTLY
        + "    retention: {keep_last: 2}\n"
    )
    for _day in range(4):
        assert run_task(instance, "nightly").state == "succeeded"
        clock.advance(DAY)
    book = BackupBook(instance.engine)
    live = {b.name for b in book.of_task("nightly")}
    gone = {b.name for b in book.of_task("nightly", include_deleted=True)} - live
    assert len(live) == 2 and len(gone) == 2
    rows = {row.file.name: row.state for row in catalog_of(instance).ls(store="vault")}
    assert rows == {**dict.fromkeys(live, "present"), **dict.fromkeys(gone, "deleted")}
    assert not any((store_dir / name).exists() for name in gone)
