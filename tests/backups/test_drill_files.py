"""`restore_drill` of directory backups (tar.gz: extracted and checked as a tree) and of
MongoDB archives (which need mongorestore and mongosh on the worker)."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import pytest
from backup_support import run_task

from sexton.backups import BackupBook
from sexton.config import ConfigError


@pytest.fixture
def site_files(tmp_path: Path) -> Path:
    """A directory as an application keeps it: data files and a config file."""
    top = tmp_path / "site"
    for name in ("data/2026/a.warc.gz", "data/2026/b.warc.gz", "data/index.cdx", "conf/site.ini"):
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text(f"content of {name}\n")
    return top


def drill_config(store_dir: Path, site_files: Path, checks: str, target: str = "") -> str:
    return (
        f"stores:\n  vault: {{url: '{store_dir.as_uri()}'}}\n"
        "tasks:\n"
        f"  - {{name: files, type: backup, source: {{path: '{site_files}'}}, destination: vault}}\n"
        "  - name: drill\n    type: restore_drill\n    backup_task: files\n"
        f"    checks: {checks}\n{target}"
    )


def test_a_directory_backup_is_extracted_checked_and_the_scratch_removed(
    real_instance, store_dir, site_files, tmp_path
):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    checks = (
        "[{files_min: 4}, {files_min: 2, glob: '**/*.warc.gz'},"
        " {path: conf/site.ini, exists: true}, {path: run/lock, exists: false}]"
    )
    instance = real_instance(
        drill_config(store_dir, site_files, checks, f"    target: {{directory: '{scratch}'}}\n")
    )
    assert run_task(instance, "files").state == "succeeded"
    run = run_task(instance, "drill")
    assert run.state == "succeeded", run.error
    assert list(scratch.iterdir()) == []
    (backup,) = BackupBook(instance.engine).of_task("files")
    assert backup.last_drill is not None and backup.last_drill.ok
    assert [(r["check"], r["value"], r["min"], r["ok"]) for r in backup.last_drill.results] == [
        ("files", 4, 4, True),
        ("files matching **/*.warc.gz", 2, 2, True),
        ("conf/site.ini exists", 1, None, True),
        ("run/lock is absent", 0, None, True),
    ]


def test_a_directory_drill_fails_when_files_are_too_few_or_missing(
    real_instance, store_dir, site_files
):
    checks = "[{files_min: 100}, {path: conf/other.ini, exists: true}, {path: data, exists: true}]"
    instance = real_instance(drill_config(store_dir, site_files, checks))  # no target: temp dir
    run_task(instance, "files")
    run = run_task(instance, "drill")
    assert run.state == "failed" and "2 of 3 checks failed" in run.error
    (backup,) = BackupBook(instance.engine).of_task("files")
    assert [r["ok"] for r in backup.last_drill.results] == [False, False, True]


def test_an_archive_with_an_entry_escaping_the_scratch_dir_fails_and_writes_nothing_outside(
    real_instance, store_dir, site_files, tmp_path
):
    instance = real_instance(drill_config(store_dir, site_files, "[{files_min: 1}]"))
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        member = tarfile.TarInfo("../escaped.txt")
        member.size = 4
        tar.addfile(member, io.BytesIO(b"evil"))
    (store_dir / "files").mkdir()
    (store_dir / "files/evil.tar.gz").write_bytes(data.getvalue())
    BackupBook(instance.engine).add(
        task="files",
        store="vault",
        name="files/evil.tar.gz",
        format="tar_gz",
        size=len(data.getvalue()),
        checksum="sha256:" + hashlib.sha256(data.getvalue()).hexdigest(),
        created_at=instance.clock.now(),
        run_id=None,
    )
    run = run_task(instance, "drill")
    assert run.state == "failed" and "unsafe entry" in run.error, run.error
    assert not list(tmp_path.rglob("escaped.txt"))


@pytest.mark.parametrize(
    ("checks", "target", "message"),
    [
        ("[{table: t, min_rows: 1}]", "", "needs a target {sqlite: SCRATCH_FILE}"),
        ("[{files_min: 1}]", "{sqlite: /tmp/x.db}", "needs a target {directory: SCRATCH_DIR}"),
        ("[{collection: app.users, min_docs: 1}]", "", "needs a target {mongodb: SERVER_URL}"),
        ("[{path: ../x, exists: true}]", "", "contains .."),
        ("[{path: x}]", "", "{path: P, exists: true}"),
        ("[{files_min: 1, exists: true}]", "", "exists goes with path"),
        ("[{collection: users, min_docs: 1}]", "{mongodb: 'mongodb://h'}", "db.collection"),
    ],
)
def test_checks_that_cannot_run_on_the_target_are_config_errors(
    write_config, checks, target, message
):
    with pytest.raises(ConfigError) as caught:
        write_config(
            "tasks:\n  - {name: d, type: restore_drill, backup_task: b,"
            f" checks: {checks}{', target: ' + target if target else ''}}}\n"
        )
    assert message in " ".join(str(p) for p in caught.value.problems)


@pytest.mark.skipif(
    shutil.which("mongorestore") is not None and shutil.which("mongosh") is not None,
    reason="the MongoDB tools are installed here",
)
def test_a_mongodb_drill_without_the_tools_fails_clearly_and_blames_no_backup(
    real_instance, store_dir
):
    instance = real_instance(
        f"stores:\n  vault: {{url: '{store_dir.as_uri()}'}}\n"
        "tasks:\n"
        "  - {name: mongo, type: backup, source: {mongodb: 'mongodb://127.0.0.1/app'},"
        " destination: vault}\n"
        "  - name: drill\n    type: restore_drill\n    backup_task: mongo\n"
        "    target: {mongodb: 'mongodb://127.0.0.1'}\n"
        "    checks: [{collection: app.submission, min_docs: 1}]\n"
    )
    book = BackupBook(instance.engine)
    book.add(
        task="mongo",
        store="vault",
        name="mongo/x.archive.gz",
        format="mongo_archive",
        size=1,
        checksum="sha256:" + "0" * 64,
        created_at=instance.clock.now(),
        run_id=None,
    )
    run = run_task(instance, "drill")
    assert run.state == "failed" and "not installed on this worker" in run.error
    assert "mongorestore" in run.error
    (backup,) = book.of_task("mongo")
    assert backup.last_drill is None
