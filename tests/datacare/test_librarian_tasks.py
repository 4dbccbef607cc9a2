"""A librarian background-task JSON, included from sexton.yaml, loads and runs unchanged."""

from __future__ import annotations

import json

from catalog.catalog_support import catalog_of, put, run_task
from sexton.engine.service import Instance

LIBRARIAN = {
    "check_integrity": [
        {
            "task_name": "Integrity",
            "soft_timeout": "00:30:00",
            "every": "01:00:00",
            "age_in_days": 7,
            "store_name": "store",
        }
    ],
    "create_local_clone": [
        {
            "task_name": "Local cloner",
            "soft_timeout": "00:30:00",
            "every": "01:00:00",
            "age_in_days": 7,
            "clone_from": "store",
            "clone_to": ["clone"],
            "files_per_run": 256,
            "disable_store_on_full": True,
        }
    ],
    "rolling_deletion": [
        {
            "task_name": "Rolling deletion",
            "soft_timeout": "00:30:00",
            "every": "24:00:00",
            "store_name": "store",
            "age_in_days": 30,
            "number_of_copies": 1,
            "verify_checksums": True,
            "max_verification_age": "7d",
            "dry_run": True,
        }
    ],
}


def test_librarian_background_json_validates_and_runs(tmp_path, write_config, clock):
    for name in ("store", "clone"):
        (tmp_path / name).mkdir()
    (tmp_path / "background.json").write_text(json.dumps(LIBRARIAN))
    config = write_config(
        f"stores:\n  store: {{url: '{(tmp_path / 'store').as_uri()}'}}\n"
        f"  clone: {{url: '{(tmp_path / 'clone').as_uri()}'}}\n"
        "include: [background.json]\n"
        "tasks:\n  - {name: scan, type: scan, store: store}\n"
    )
    assert {name: spec.type for name, spec in config.tasks.items()} == {
        "scan": "scan",
        "Integrity": "check_integrity",
        "Local cloner": "create_local_clone",
        "Rolling deletion": "rolling_deletion",
    }
    instance = Instance.open(config, clock)
    try:
        put(tmp_path / "store", "a.warc.gz", b"warc")
        assert run_task(instance, "scan") == "succeeded"
        assert run_task(instance, "Integrity") == "succeeded"  # records the first checksum
        assert run_task(instance, "Local cloner") == "succeeded"
        assert run_task(instance, "Rolling deletion") == "succeeded"
        copies = {i.store: i.state for i in catalog_of(instance).show("a.warc.gz").instances}
        assert copies == {"store": "present", "clone": "present"}
    finally:
        instance.engine.dispose()
