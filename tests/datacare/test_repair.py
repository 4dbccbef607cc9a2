"""Repair: a damaged copy replaced from a good one on another store or at another site, through
`sexton run` as an operator would; a file with no good copy left is lost and nothing is
overwritten; a source verified too long ago is not used; a read-only target is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from datacare_support import flip_a_byte

from sexton.db import connect
from sexton.db.catalog_tables import files, instances
from sexton.stores.paths import TEMP_PREFIX
from transfer.transfer_sites import (
    CONSUMER,
    READ,
    SENDER,
    TO_DESTINATION,
    Site,
    destination_body,
    source_head,
    write_files,
)

SEXTON = [sys.executable, "-m", "sexton"]
STORES = ("store", "mirror")
FIXITY = (
    "  - {name: fixity, type: check_integrity, store_name: store, age_in_days: null,"
    " repair: true}\n"
)
REPAIR = "  - {name: mend, type: repair, stores: [store], verified_within: 90d}\n"


def sexton(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SEXTON, *args, "-c", str(config)], capture_output=True, text=True, timeout=120, env=env
    )


def sexton_json(config: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    done = sexton(config, *args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def status_of(config: Path, task: str) -> str:
    (found,) = [t for t in sexton_json(config, "status") if t["task"] == task]
    return str(found["status"])


def repair_events(
    config: Path, name: str, env: dict[str, str] | None = None
) -> list[tuple[str, str, str | None]]:
    shown = sexton_json(config, "catalog", "show", name, env=env)
    return [(r["event"], r["store"], r["source"]) for r in shown["repairs"]]


def states(config: Path, name: str) -> dict[str, str]:
    shown = sexton_json(config, "catalog", "show", name)
    return {i["store"]: i["state"] for i in shown["instances"]}


@pytest.fixture
def archive(tmp_path: Path, database_url: str) -> Iterator[Path]:
    """A config with two stores holding the same files, both scanned with checksums (so
    every copy starts verified now), and a check of `store` that repairs."""
    lines = [f"database: '{database_url}'", "stores:"]
    for name in STORES:
        (tmp_path / name).mkdir()
        lines.append(f"  {name}: {{url: '{(tmp_path / name).as_uri()}'}}")
    lines.append("tasks:")
    lines += [f"  - {{name: scan-{s}, type: scan, store: {s}, checksum_new: true}}" for s in STORES]
    config = tmp_path / "sexton.yaml"
    config.write_text("\n".join(lines) + "\n" + FIXITY + REPAIR)
    for name in STORES:
        for file, data in {"a/one.warc": b"one " * 500, "a/two.warc": b"two " * 700}.items():
            (tmp_path / name / file).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name / file).write_bytes(data)
        assert sexton(config, "run", f"scan-{name}").returncode == 0
    yield config


def test_a_corrupt_and_a_missing_copy_are_repaired_in_the_check_that_finds_them(
    archive: Path,
) -> None:
    root = archive.parent
    good_one = (root / "mirror/a/one.warc").read_bytes()
    good_two = (root / "mirror/a/two.warc").read_bytes()
    flip_a_byte(root / "store/a/one.warc", 10)
    (root / "store/a/two.warc").unlink()

    run = sexton(archive, "run", "fixity", "--json")
    assert run.returncode == 0, run.stdout + run.stderr

    assert (root / "store/a/one.warc").read_bytes() == good_one
    assert (root / "store/a/two.warc").read_bytes() == good_two
    assert states(archive, "a/one.warc") == {"store": "present", "mirror": "present"}
    assert states(archive, "a/two.warc") == {"store": "present", "mirror": "present"}
    assert status_of(archive, "fixity") == "up"
    assert repair_events(archive, "a/one.warc") == [
        ("detected", "store", None),
        ("repaired", "store", "store mirror"),
    ]
    shown = sexton_json(archive, "catalog", "show", "a/two.warc")
    assert [(r["event"], r["detail"]) for r in shown["repairs"]] == [
        ("detected", "missing"),
        ("repaired", "missing"),
    ]
    table = sexton(archive, "catalog", "show", "a/one.warc").stdout
    assert "detected" in table and "repaired" in table and "store mirror" in table
    # Checked again, every copy matches: nothing is found, nothing repaired twice.
    assert sexton(archive, "run", "fixity").returncode == 0
    assert len(repair_events(archive, "a/one.warc")) == 2
    shown = sexton_json(archive, "catalog", "show", "a/one.warc")
    checks = [c for c in shown["checks"] if c["store"] == "store"]
    assert [c["outcome"] for c in checks] == ["match", "mismatch"]
    wide = {**os.environ, "COLUMNS": "400"}  # one line per row of the table
    table = sexton(archive, "catalog", "show", "a/one.warc", env=wide).stdout
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in table.splitlines()]
    found = {row[0]: row[3] for row in rows if len(row) == 6}  # the checks' table
    # what the damaged copy held, beside what the catalog expected; then the match
    assert found == {
        "mismatch": f"{checks[1]['detail']}, found {checks[1]['checksum']}",
        "match": "checksum matched the catalog's",
    }


def test_a_file_whose_every_copy_is_damaged_is_lost_and_nothing_is_overwritten(
    archive: Path,
) -> None:
    root = archive.parent
    flip_a_byte(root / "store/a/one.warc", 10)
    flip_a_byte(root / "mirror/a/one.warc", 20)
    damaged = {s: (root / s / "a/one.warc").read_bytes() for s in STORES}

    run = sexton(archive, "run", "fixity", "--json")
    assert run.returncode == 1
    assert "1 files lost (no good copy anywhere): a/one.warc" in run.stdout + run.stderr

    assert {s: (root / s / "a/one.warc").read_bytes() for s in STORES} == damaged
    assert not [p for p in root.rglob(f"{TEMP_PREFIX}*")]  # no replacement left half-done
    assert states(archive, "a/one.warc") == {"store": "corrupt", "mirror": "corrupt"}
    assert status_of(archive, "fixity") == "down"
    assert repair_events(archive, "a/one.warc") == [
        ("detected", "store", None),
        ("lost", "store", None),
    ]
    # The repair task finds it lost too; the history says so once, not once per run.
    for _ in range(2):
        mend = sexton(archive, "run", "mend")
        assert mend.returncode == 1 and "files lost" in mend.stdout + mend.stderr
    assert [e for e, _s, _src in repair_events(archive, "a/one.warc")] == ["detected", "lost"]
    assert {s: (root / s / "a/one.warc").read_bytes() for s in STORES} == damaged


def backdate_verification(config: Path, database_url: str, store: str, days: int) -> None:
    engine = connect(database_url)
    with engine.begin() as connection:
        connection.execute(
            sa.update(instances)
            .where(instances.c.store == store)
            .values(verified_at=datetime.now(UTC) - timedelta(days=days))
        )
    engine.dispose()


def test_a_source_verified_longer_ago_than_the_window_is_not_used(
    archive: Path, database_url: str
) -> None:
    root = archive.parent
    flip_a_byte(root / "store/a/one.warc", 10)
    backdate_verification(archive, database_url, "mirror", days=45)  # the window is 30 days
    damaged = (root / "store/a/one.warc").read_bytes()

    run = sexton(archive, "run", "fixity", "--json")
    assert run.returncode == 1
    assert "not repaired" in run.stdout and "verified within 30 days" in run.stdout
    assert (root / "store/a/one.warc").read_bytes() == damaged
    assert states(archive, "a/one.warc")["store"] == "corrupt"
    assert [e for e, _s, _src in repair_events(archive, "a/one.warc")] == ["detected"]

    # A repair task whose window reaches back 90 days may use it.
    assert sexton(archive, "run", "mend").returncode == 0
    assert (root / "store/a/one.warc").read_bytes() == (root / "mirror/a/one.warc").read_bytes()
    assert repair_events(archive, "a/one.warc")[-1] == ("repaired", "store", "store mirror")


def test_validate_refuses_a_repair_into_a_read_only_store(tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir()
    config = tmp_path / "sexton.yaml"
    config.write_text(
        "stores:\n"
        f"  ro: {{url: '{(tmp_path / 'ro').as_uri()}', read_only: true}}\n"
        "tasks:\n"
        "  - {name: check, type: check_integrity, store_name: ro}\n"
        "  - {name: fixity, type: check_integrity, store_name: ro, repair: true}\n"
        "  - {name: mend, type: repair, stores: [ro]}\n"
    )
    done = sexton(config, "validate")
    assert done.returncode == 2
    errors = done.stderr.strip().splitlines()
    assert errors == [
        f"{config}:5: tasks[1].repair: store 'ro' is read_only, but 'repair' makes this "
        "task write into it",
        f"{config}:6: tasks[2].stores: store 'ro' is read_only, but 'stores' makes this "
        "task write into it",
    ], done.stderr


def test_a_copy_damaged_at_one_site_is_repaired_from_the_other_over_the_transfer_api(
    two_sites: tuple[Site, Site],
) -> None:
    source, destination = two_sites
    source.write_config(
        source_head(destination) + "tasks:\n"
        "  - {name: scan, type: scan, store: store, checksum_new: true}\n"
        f"  - {SENDER}\n  - {CONSUMER}\n" + FIXITY
    )
    destination.write_config(destination_body(source))
    written = write_files(source.store, 3)
    source.start()
    destination.start()
    source.trigger("scan")
    source.trigger("sender")
    source.trigger("consumer")
    destination.trigger("receiver")  # calls back: the source records the confirmed copies
    assert source.confirmed_remote("destination") == source.checksums()

    victim = sorted(written)[1]
    flip_a_byte(source.store / victim, 5)
    run = source.run("fixity")
    assert json.loads(run.stdout)["state"] == "succeeded"

    assert (source.store / victim).read_bytes() == written[victim]
    assert repair_events(source.config, victim, env=source.environ()) == [
        ("detected", "store", None),
        ("repaired", "store", "site destination/store"),
    ]
    assert (destination.store / victim).read_bytes() == written[victim]  # only read there
    present = sa.select(sa.func.count()).select_from(instances.join(files))
    present = present.where(instances.c.state == "present", files.c.name == victim)
    assert source.rows(present)[0][0] == 1
    with source.client(READ) as api:
        metrics = api.get("/metrics").text
    assert 'sexton_repairs_total{event="repaired",store="store"} 1.0' in metrics
    assert 'sexton_repairs_total{event="lost",store="store"} 0.0' in metrics


def test_another_site_reads_only_catalogued_verified_copies_with_its_site_token(
    two_sites: tuple[Site, Site],
) -> None:
    source, destination = two_sites
    source.write_config(source_head(destination) + "tasks: []\n")
    destination.write_config(destination_body(source))
    (destination.store / "uncatalogued.warc").write_bytes(b"not in the catalog")
    destination.start()
    path = "/api/v1/transfers/files/data"
    with destination.client(TO_DESTINATION) as api:
        assert api.get(path, params={"name": "uncatalogued.warc"}).status_code == 404
        refused = api.get(path, params={"name": "../sexton.yaml"})
        assert refused.status_code == 400 and ".." in refused.json()["detail"]
    with destination.client(READ) as api:
        assert api.get(path, params={"name": "uncatalogued.warc"}).status_code == 403


def test_the_repair_task_mends_at_most_files_per_run_and_the_next_run_the_rest(
    archive: Path,
) -> None:
    root = archive.parent
    config = archive.read_text().replace("verified_within: 90d}", "files_per_run: 1}")
    archive.write_text(config)
    for name in ("a/one.warc", "a/two.warc"):
        (root / "store" / name).unlink()
    assert sexton(archive, "run", "fixity", "--json").returncode == 0  # repaired in the check
    for name in ("a/one.warc", "a/two.warc"):
        flip_a_byte(root / "store" / name)
    # Damage found by a check without repair (as an operator's plain fixity task would).
    archive.write_text(config.replace(" repair: true}", "}"))
    assert sexton(archive, "run", "fixity").returncode == 1
    archive.write_text(config)

    first = sexton_json(archive, "run", "mend")
    assert first["state"] == "succeeded" and first["items"] == 1
    assert sexton_json(archive, "run", "mend")["items"] == 1
    assert sexton_json(archive, "run", "mend")["items"] == 0
    for name in ("a/one.warc", "a/two.warc"):
        assert (root / "store" / name).read_bytes() == (root / "mirror" / name).read_bytes()
        assert states(archive, name) == {"store": "present", "mirror": "present"}


def test_plan_lists_the_copy_a_repair_would_replace_and_the_copy_that_makes_it_safe(
    archive: Path,
) -> None:
    root = archive.parent
    flip_a_byte(root / "store/a/one.warc", 10)
    archive.write_text(archive.read_text().replace(" repair: true}", "}"))
    assert sexton(archive, "run", "fixity").returncode == 1  # found, not repaired
    damaged = (root / "store/a/one.warc").read_bytes()

    planned = sexton_json(archive, "plan", "mend")
    assert [(p["action"], p["store"], p["path"]) for p in planned] == [
        ("copy", "store", "a/one.warc")
    ]
    assert [v["store"] for v in planned[0]["safe_by"]] == ["mirror"]
    assert planned[0]["safe_by"][0]["verified_at"] is not None
    assert (root / "store/a/one.warc").read_bytes() == damaged  # the plan changed nothing

    assert sexton_json(archive, "run", "mend")["items"] == 1
    assert sexton_json(archive, "plan", "mend") == []
