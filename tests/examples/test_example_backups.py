"""examples/backups end to end: the nightly PostgreSQL backup, today's verification, 90-day
retention, the monthly restore drill and the manual checklist duties, through the command line
against a real PostgreSQL application database."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from example_support import Sexton, copy_example

from sexton.db import connect
from sexton.db.backup_tables import backups

PG_URL = os.environ.get("SEXTON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PG_SERVER = PG_URL.rsplit("/", 1)[0]  # the server, without the test database
TASKS = (
    "nightly-backup",
    "verify-todays-backup",
    "monthly-restore-drill",
    "backups-exist-everywhere",
    "usage-review",
)


@pytest.fixture
def app_database() -> Iterator[str]:
    """The application database the example backs up: a database of its own on the test
    server, filled by the example's demo-data.sql with psql as its README says, then dropped."""
    name = f"sexton_example_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield f"{PG_SERVER}/{name}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def sexton(tmp_path: Path, database_url: str, app_database: str) -> Sexton:
    directory = copy_example("backups", tmp_path)
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", app_database, "-f", "demo-data.sql"],
        cwd=directory,
        check=True,
        capture_output=True,
    )
    store = tmp_path / "backup-store"
    store.mkdir()
    environ = {
        "APP_DATABASE_URL": app_database,
        "DRILL_SERVER_URL": f"{PG_SERVER}/postgres",
        "BACKUP_STORE": store.as_uri(),
    }
    return Sexton(directory, database_url, environ)


def age_backups(database_url: str, by: timedelta) -> None:
    """Make every recorded backup look ``by`` older: a night's work without waiting a night."""
    engine = connect(database_url)
    try:
        with engine.begin() as connection:
            made = connection.execute(sa.select(backups.c.id, backups.c.created_at)).all()
            for backup_id, created_at in made:
                connection.execute(
                    sa.update(backups)
                    .where(backups.c.id == backup_id)
                    .values(created_at=created_at - by)
                )
    finally:
        engine.dispose()


@pytest.mark.timeout(600)  # a dozen `sexton` processes, each importing the whole tool
def test_backup_verify_retention_drill_and_manual_duties(
    sexton: Sexton, database_url: str, tmp_path: Path
) -> None:
    assert "valid, 5 tasks" in sexton.run("validate").stdout
    # Before any backup the verification has nothing to verify: it is refused, not failed.
    refused = sexton.run("run", "verify-todays-backup", expect=1)
    assert "requires nightly-backup, which has not succeeded yet" in refused.stderr

    assert sexton.json("run", "nightly-backup")["state"] == "succeeded"
    assert sexton.json("run", "verify-todays-backup")["state"] == "succeeded"
    [made] = sexton.json("backup", "ls", "nightly-backup")
    assert made["verified"] is True and made["format"] == "pg_custom"
    assert (tmp_path / "backup-store" / made["name"]).stat().st_size == made["size"]
    checked = {r["check"]: r["ok"] for r in made["last_drill"]["results"]}
    assert checked == {"rows in project": True, "rows in file": True}

    # A day later with no new backup: "today's backup" is missing and verification fails.
    age_backups(database_url, timedelta(days=1))
    missing = sexton.json("run", "verify-todays-backup", expect=1)
    assert missing["state"] == "failed"
    assert "no backup of nightly-backup was made in the last 12h" in missing["error"]

    # 91 days later, the next backup lets the old one go (90-day retention), and the monthly
    # drill restores the one left and counts several tables.
    age_backups(database_url, timedelta(days=90))
    assert sexton.json("run", "nightly-backup")["state"] == "succeeded"
    drill = sexton.json("run", "monthly-restore-drill")
    assert drill["state"] == "succeeded" and drill["items"] == 5
    everything = {b["name"]: b for b in sexton.json("backup", "ls", "nightly-backup", "--all")}
    gone = everything.pop(made["name"])
    assert gone["deleted_at"] is not None
    assert not (tmp_path / "backup-store" / made["name"]).exists()
    [kept] = everything.values()
    assert kept["deleted_at"] is None and kept["verified"] is True
    values = {r["check"]: r["value"] for r in kept["last_drill"]["results"]}
    assert values["rows in biomaterial"] == 500 and values["rows in file"] == 2000

    # The manual checklist: one duty recorded as done, the other still waiting for a person.
    done = sexton.run("done", "usage-review", "--note", "bucket at 40 GB, nothing to clean")
    assert "recorded usage-review as done" in done.stdout
    status = sexton.status()
    assert set(status) == set(TASKS)
    assert status["usage-review"]["status"] == "up"
    assert status["backups-exist-everywhere"]["status"] == "new"
    assert status["nightly-backup"]["status"] == "up"
    assert status["verify-todays-backup"]["failures"] == 1
    backup_due = datetime.fromisoformat(status["nightly-backup"]["next_due"])
    verify_due = datetime.fromisoformat(status["verify-todays-backup"]["next_due"])
    assert (backup_due.hour, backup_due.minute) == (0, 0)  # midnight, the zone is UTC
    assert (verify_due.hour, verify_due.minute) == (0, 30)
