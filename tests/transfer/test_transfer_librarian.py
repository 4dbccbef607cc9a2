"""The librarian's inter-librarian example configs, included as JSON files unchanged, move
files between two Sexton sites."""

from __future__ import annotations

import sqlalchemy as sa
from transfer_sites import Site, destination_head, source_head, write_files

from sexton.db.catalog_tables import instances, transfers

# Verbatim from the librarian's background-task documentation.
LIBRARIAN_SOURCE = """
{
    "send_clone": [
        {
            "task_name": "Clone sender",
            "soft_timeout": "00:30:00",
            "every": "01:00:00",
            "age_in_days": 7,
            "store_preference": "store",
            "send_batch_size": 128,
            "destination_librarian": "destination"
        }
    ],
    "consume_queue": [
        {
            "task_name": "Queue consumer",
            "soft_timeout": "00:30:00",
            "every": "01:00:00"
        }
    ],
    "check_consumed_queue": [
        {
            "task_name": "Queue checker",
            "soft_timeout": "00:30:00",
            "every": "01:00:00"
        }
    ]
}
"""
LIBRARIAN_DESTINATION = """
{
    "receive_clone": [
        {
            "task_name": "Clone receiver",
            "soft_timeout": "00:30:00",
            "every": "01:00:00",
            "deletion_policy": "DISALLOWED",
            "files_per_run": 1024
        }
    ]
}
"""


def include(site: Site, head: str, librarian: str, tasks: str = "") -> None:
    site.root.mkdir(parents=True, exist_ok=True)
    (site.root / "librarian.json").write_text(librarian)
    site.write_config(f"{head}include: [librarian.json]\n{tasks}")


def test_the_librarian_source_and_destination_configs_run_unchanged(
    two_sites: tuple[Site, Site],
) -> None:
    source, destination = two_sites
    scan = "tasks:\n  - {name: scan, type: scan, store: store, checksum_new: true}\n"
    include(source, source_head(destination), LIBRARIAN_SOURCE, scan)
    include(destination, destination_head(source), LIBRARIAN_DESTINATION)
    written = write_files(source.store, 150)
    source.start()
    destination.start()
    source.trigger("scan")

    source.trigger("Clone sender")
    source.trigger("Queue consumer")
    destination.trigger("Clone receiver")
    source.trigger("Queue checker")

    assert destination.present_copies() == {name: 1 for name in written}
    assert source.confirmed_remote("destination") == source.checksums()
    policies = destination.rows(sa.select(instances.c.deletion_policy).distinct())
    assert [p for (p,) in policies] == ["disallowed"]
    batches = source.rows(sa.select(transfers.c.batch).distinct())
    assert len(batches) == 2  # 150 files in batches of 128
