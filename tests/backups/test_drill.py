"""`restore_drill`: a backup restored into a scratch database, counted, recorded, and the
scratch database always removed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from backup_support import (
    PG_SERVER,
    ROWS,
    drill_databases,
    events,
    flip_a_byte,
    record,
    run_task,
)

from sexton.backups import BackupBook
from sexton.tasks.restore_drill import pick


def sqlite_tasks(store_dir, app_sqlite, scratch, checks: str, extra: str = "") -> str:
    return (
        f"stores:\n  vault: {{url: '{store_dir.as_uri()}'}}\n"
        "tasks:\n"
        f"  - {{name: nightly, type: backup, source: {{sqlite: '{app_sqlite}'}},"
        " destination: vault}\n"
        "  - name: monthly-drill\n    type: restore_drill\n    backup_task: nightly\n"
        f"    target: {{sqlite: '{scratch}'}}\n    checks: {checks}\n{extra}"
    )


GOOD_CHECKS = (
    f"[{{table: submission, min_rows: {ROWS}}}, {{query: 'SELECT count(*) FROM project', min: 50}}]"
)


def test_drill_restores_a_sqlite_backup_and_records_each_count(
    real_instance, store_dir, app_sqlite, tmp_path
):
    scratch = tmp_path / "scratch.db"
    instance = real_instance(sqlite_tasks(store_dir, app_sqlite, scratch, GOOD_CHECKS))
    assert run_task(instance, "nightly").state == "succeeded"
    run = run_task(instance, "monthly-drill")
    assert run.state == "succeeded", run.error
    assert not scratch.exists()
    (backup,) = BackupBook(instance.engine).of_task("nightly")
    drill = backup.last_drill
    assert drill is not None and drill.ok and drill.run_id == run.id
    assert drill.results == [
        {"check": "rows in submission", "value": ROWS, "min": ROWS, "ok": True, "error": None},
        {
            "check": "SELECT count(*) FROM project",
            "value": 50,
            "min": 50,
            "ok": True,
            "error": None,
        },
    ]
    seen = events(instance, run)
    assert any(backup.name in e for e in seen)
    assert any("check=rows in submission value=3000.0" in e for e in seen)


def test_drill_fails_when_a_count_is_below_its_minimum(
    real_instance, store_dir, app_sqlite, tmp_path
):
    scratch = tmp_path / "scratch.db"
    checks = "[{table: submission, min_rows: 1000000}, {query: 'SELECT nonsense', min: 1}]"
    instance = real_instance(sqlite_tasks(store_dir, app_sqlite, scratch, checks))
    run_task(instance, "nightly")
    run = run_task(instance, "monthly-drill")
    assert run.state == "failed"
    assert "2 of 2 checks failed" in run.error
    assert not scratch.exists()
    (backup,) = BackupBook(instance.engine).of_task("nightly")
    results = backup.last_drill.results
    assert [r["ok"] for r in results] == [False, False]
    assert results[0]["value"] == ROWS and "nonsense" in results[1]["error"]


def test_a_corrupted_backup_fails_the_drill_before_any_restore(
    real_instance, store_dir, app_sqlite, tmp_path
):
    scratch = tmp_path / "scratch.db"
    instance = real_instance(sqlite_tasks(store_dir, app_sqlite, scratch, GOOD_CHECKS))
    run_task(instance, "nightly")
    (backup,) = BackupBook(instance.engine).of_task("nightly")
    flip_a_byte(store_dir / backup.name)
    run = run_task(instance, "monthly-drill")
    assert run.state == "failed" and "damaged" in run.error
    assert not scratch.exists()
    (backup,) = BackupBook(instance.engine).of_task("nightly")
    assert backup.last_drill is not None and not backup.last_drill.ok


def test_drill_of_a_postgres_dump_restores_into_a_scratch_database_and_drops_it(
    real_instance, store_dir, app_postgres
):
    instance = real_instance(
        f"stores:\n  vault: {{url: '{store_dir.as_uri()}'}}\n"
        "tasks:\n"
        f"  - {{name: pg, type: backup, source: {{postgres: '{app_postgres}'}},"
        " destination: vault}\n"
        "  - name: nightly-restores\n    type: restore_drill\n    backup_task: pg\n"
        f"    newest: true\n    target: {{postgres: '{PG_SERVER}/postgres'}}\n"
        f"    checks: {GOOD_CHECKS}\n"
    )
    assert run_task(instance, "pg").state == "succeeded"
    run = run_task(instance, "nightly-restores")
    assert run.state == "succeeded", run.error
    assert drill_databases() == []
    (backup,) = BackupBook(instance.engine).of_task("pg")
    assert [r["value"] for r in backup.last_drill.results] == [ROWS, 50]


def test_a_failing_postgres_drill_still_drops_its_scratch_database(
    real_instance, store_dir, app_postgres
):
    instance = real_instance(
        f"stores:\n  vault: {{url: '{store_dir.as_uri()}'}}\n"
        "tasks:\n"
        f"  - {{name: pg, type: backup, source: {{postgres: '{app_postgres}'}},"
        " destination: vault}\n"
        "  - name: drill\n    type: restore_drill\n    backup_task: pg\n"
        f"    target: {{postgres: '{PG_SERVER}/postgres'}}\n"
        "    checks: [{table: submission, min_rows: 999999}, {table: missing_table, min_rows: 1}]\n"
    )
    run_task(instance, "pg")
    run = run_task(instance, "drill")
    assert run.state == "failed" and "2 of 2 checks failed" in run.error
    assert drill_databases() == []


def test_a_drill_with_no_backups_fails_clearly(real_instance, store_dir, app_sqlite, tmp_path):
    instance = real_instance(sqlite_tasks(store_dir, app_sqlite, tmp_path / "s.db", GOOD_CHECKS))
    run = run_task(instance, "monthly-drill")
    assert run.state == "failed" and "no backup to drill" in run.error


def test_a_sqlite_backup_cannot_be_drilled_into_postgres(
    real_instance, store_dir, app_sqlite, tmp_path
):
    instance = real_instance(
        f"stores:\n  vault: {{url: '{store_dir.as_uri()}'}}\n"
        "tasks:\n"
        f"  - {{name: nightly, type: backup, source: {{sqlite: '{app_sqlite}'}},"
        " destination: vault}\n"
        "  - name: drill\n    type: restore_drill\n    backup_task: nightly\n"
        f"    target: {{postgres: '{PG_SERVER}/postgres'}}\n"
        "    checks: [{table: submission, min_rows: 1}]\n"
    )
    run_task(instance, "nightly")
    run = run_task(instance, "drill")
    assert run.state == "failed" and "sqlite" in run.error and "pg_custom" in run.error


def test_pick_prefers_backups_this_task_never_drilled_then_the_longest_undrilled():
    chance = random.Random(7)
    backups = [record(0, 0), record(1, 1), record(2, 2), record(3, 3, verify_ok=False)]
    day = lambda n: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=n)  # noqa: E731
    drilled_at = {0: day(5), 2: day(3)}
    assert {pick(backups, False, chance, drilled_at).name for _ in range(20)} == {"b1"}
    drilled_at[1] = day(9)
    assert pick(backups, False, chance, drilled_at).name == "b2"
    assert pick(backups, True, chance, drilled_at).name == "b2"  # the newest that verified


@pytest.mark.parametrize(
    ("checks", "message"),
    [
        ("[]", "at least 1"),
        ("[{table: 'x; DROP TABLE y', min_rows: 1}]", "is not a table name"),
        ("[{table: t}]", "needs min_rows"),
        ("[{query: 'SELECT 1'}]", "needs min"),
        ("[{table: t, min_rows: 1, query: 'SELECT 1'}]", "either table"),
    ],
)
def test_bad_drill_checks_are_clear_validation_errors(write_config, checks, message):
    from sexton.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        write_config(
            "tasks:\n  - {name: d, type: restore_drill, backup_task: b,"
            f" target: {{sqlite: /tmp/x.db}}, checks: {checks}}}\n"
        )
    assert message in " ".join(str(p) for p in caught.value.problems)
