"""The `backup` task: SQLite, PostgreSQL and directories streamed into a store, verified
there, and recorded with size and checksum."""

from __future__ import annotations

import hashlib
import io
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest
from backup_support import ROWS, events, flip_a_byte, run_task

import sexton.tasks.backup as backup_module
from sexton.backups import BackupBook
from sexton.backups.sources import PostgresSource
from sexton.backups.verify import verify
from sexton.stores import StoreSettings, open_store
from support import S3_BUCKET


def store_config(store_dir: Path) -> str:
    return f"stores:\n  vault: {{url: '{store_dir.as_uri()}'}}\n"


def only_backup(instance, task):
    (record,) = BackupBook(instance.engine).of_task(task)
    return record


def stored_files(store_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(store_dir)) for p in store_dir.rglob("*") if p.is_file())


def test_sqlite_backup_taken_while_a_writer_inserts_is_verified_and_recorded(
    real_instance, store_dir, app_sqlite, sqlite_writer, tmp_path
):
    instance = real_instance(
        store_config(store_dir)
        + f"tasks:\n  - {{name: nightly, type: backup, source: {{sqlite: '{app_sqlite}'}},"
        " destination: vault}\n"
    )
    with sqlite_writer() as writer:
        run = run_task(instance, "nightly")
    assert writer.inserted > 5
    assert run.state == "succeeded", run.error
    record = only_backup(instance, "nightly")
    assert record.name.startswith("nightly/") and record.name.endswith(".sqlite")
    assert stored_files(store_dir) == [record.name]  # no temporary file left behind
    data = (store_dir / record.name).read_bytes()
    assert record.size == len(data)
    assert record.checksum == f"sha256:{hashlib.sha256(data).hexdigest()}"
    assert record.verify_ok is True and record.verified_at is not None
    assert (run.items, run.bytes) == (1, record.size)
    assert any(record.checksum in e for e in events(instance, run))
    copy = sqlite3.connect(store_dir / record.name)
    (count,) = copy.execute("SELECT count(*) FROM submission").fetchone()
    copy.close()
    assert count >= ROWS  # a consistent snapshot: the writer's rows up to some point


def test_postgres_backup_with_pg_dump_is_verified_with_pg_restore(
    real_instance, store_dir, app_postgres, postgres_writer
):
    instance = real_instance(
        store_config(store_dir)
        + f"tasks:\n  - {{name: pg, type: backup, source: {{postgres: '{app_postgres}'}},"
        " destination: vault}\n"
    )
    with postgres_writer():
        run = run_task(instance, "pg")
    assert run.state == "succeeded", run.error
    record = only_backup(instance, "pg")
    assert record.format == "pg_custom" and record.name.endswith(".dump")
    listing = subprocess.run(
        ["pg_restore", "--list", str(store_dir / record.name)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "TABLE DATA public submission" in listing
    assert record.verify_ok is True


def test_directory_backup_is_a_tar_gz_that_tar_can_list(real_instance, store_dir, tmp_path):
    data = tmp_path / "collection"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("alpha")
    (data / "sub" / "b.txt").write_text("beta" * 1000)
    instance = real_instance(
        store_config(store_dir)
        + f"tasks:\n  - {{name: files, type: backup, source: {{path: '{data}'}},"
        " destination: vault, file_name: 'files/{date:%Y%m%d%H%M%S%f}.{ext}'}\n"
    )
    run = run_task(instance, "files")
    assert run.state == "succeeded", run.error
    record = only_backup(instance, "files")
    assert record.name.endswith(".tar.gz")
    names = subprocess.run(
        ["tar", "-tzf", str(store_dir / record.name)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert {"collection/a.txt", "collection/sub/b.txt"} <= set(names)


def test_a_byte_flipped_before_verification_fails_the_run_and_is_recorded(
    real_instance, store_dir, app_sqlite, monkeypatch
):
    real_verify = backup_module.verify

    def rot_then_verify(store, name, *args):
        flip_a_byte(store_dir / name)
        return real_verify(store, name, *args)

    monkeypatch.setattr(backup_module, "verify", rot_then_verify)
    instance = real_instance(
        store_config(store_dir)
        + f"tasks:\n  - {{name: nightly, type: backup, source: {{sqlite: '{app_sqlite}'}},"
        " destination: vault}\n"
    )
    run = run_task(instance, "nightly")
    assert run.state == "failed"
    assert "failed verification" in run.error and "checksum" in run.error
    record = only_backup(instance, "nightly")
    assert record.verify_ok is False and "checksum" in record.verify_error


def test_a_failing_command_source_leaves_nothing_in_the_store(real_instance, store_dir):
    instance = real_instance(
        store_config(store_dir) + "tasks:\n  - {name: dump, type: backup, destination: vault,"
        " source: {command: [sh, -c, 'echo partial; echo broken >&2; exit 3']}}\n"
    )
    run = run_task(instance, "dump")
    assert run.state == "failed"
    assert "exited with 3" in run.error and "broken" in run.error
    assert stored_files(store_dir) == []
    assert BackupBook(instance.engine).of_task("dump") == []


def test_a_missing_sqlite_database_fails_without_creating_one(real_instance, store_dir, tmp_path):
    missing = tmp_path / "nope.db"
    instance = real_instance(
        store_config(store_dir)
        + f"tasks:\n  - {{name: nightly, type: backup, source: {{sqlite: '{missing}'}},"
        " destination: vault}\n"
    )
    run = run_task(instance, "nightly")
    assert run.state == "failed" and "no SQLite database" in run.error
    assert not missing.exists()


def test_backup_to_s3_through_moto(real_instance, s3_endpoint, app_sqlite):
    instance = real_instance(
        "stores:\n"
        "  s3vault:\n"
        # A prefix of its own: the bucket is shared by every test of the session.
        f"    url: s3://{S3_BUCKET}/backups-{uuid.uuid4().hex}\n"
        f"    options: {{endpoint_url: '{s3_endpoint}', key: testing, secret: testing,"
        " client_kwargs: {region_name: us-east-1}}\n"
        f"tasks:\n  - {{name: nightly, type: backup, source: {{sqlite: '{app_sqlite}'}},"
        " destination: s3vault}\n"
    )
    run = run_task(instance, "nightly")
    assert run.state == "succeeded", run.error
    record = only_backup(instance, "nightly")
    assert record.verify_ok is True and record.store == "s3vault"


def test_the_postgres_password_goes_in_the_environment_never_on_the_command_line():
    source = PostgresSource(postgres="postgresql://archivist:s3cr%40t@127.0.0.1:5432/ingest")
    argv, env = source.command()
    assert not any("s3cr" in part for part in argv)
    assert env == {"PGPASSWORD": "s3cr@t"}
    assert "--dbname=postgresql://archivist@127.0.0.1:5432/ingest" in argv


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("source: {sqlite: a.db}", "destination"),
        ("source: {oracle: x}, destination: vault", "one of the keys sqlite, postgres"),
        ("source: {sqlite: a.db}, destination: vault, file_name: 'fixed.sqlite'", "{date"),
        ("source: {sqlite: a.db}, destination: vault, file_name: '{when}'", "bad file_name"),
        (
            "source: {sqlite: a.db}, destination: vault, verify: false, retention: {keep_last: 3}",
            "retention needs verify",
        ),
        ("source: {sqlite: a.db}, destination: vault, retention: {}", "at least one of"),
    ],
)
def test_bad_backup_config_is_a_clear_validation_error(write_config, store_dir, body, message):
    from sexton.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        write_config(store_config(store_dir) + f"tasks:\n  - {{name: b, type: backup, {body}}}\n")
    assert message in str([str(p) for p in caught.value.problems])


@pytest.mark.parametrize(
    ("format", "complaint"),
    [("tar_gz", "tar exited"), ("pg_custom", "pg_restore exited"), ("sqlite", "not a sound")],
)
def test_content_the_format_tool_rejects_fails_verification_even_with_a_matching_checksum(
    store_dir, format, complaint
):
    store = open_store("vault", StoreSettings(url=store_dir.as_uri()))
    writer = store.write_from("junk", io.BytesIO(b"not a backup at all\n" * 500))
    checksum = writer.checksums["sha256"]
    assert complaint in verify(store, "junk", writer.size, checksum, format)
    assert verify(store, "junk", writer.size, checksum, "opaque") is None
    assert "missing" in verify(store, "gone", 1, checksum, format)
