"""`sexton backup ls|keep`: what scripts and operators see."""

from __future__ import annotations

import json

from backup_support import run_task
from click.testing import CliRunner

from sexton.cli import main

BACKUP_KEYS = {
    "name",
    "task",
    "store",
    "format",
    "size",
    "checksum",
    "created_at",
    "run",
    "verified",
    "verified_at",
    "verify_error",
    "keep",
    "deleted_at",
    "drills",
    "last_drill",
}
DRILL_KEYS = {"at", "task", "run", "ok", "error", "results"}


def test_ls_json_lists_backups_with_verification_and_drill_and_keep_protects(
    real_instance, store_dir, app_sqlite, tmp_path
):
    instance = real_instance(
        f"stores:\n  vault: {{url: '{store_dir.as_uri()}'}}\n"
        "tasks:\n"
        f"  - {{name: nightly, type: backup, source: {{sqlite: '{app_sqlite}'}},"
        " destination: vault}\n"
        "  - {name: drill, type: restore_drill, backup_task: nightly,"
        f" target: {{sqlite: '{tmp_path / 'scratch.db'}'}},"
        " checks: [{table: project, min_rows: 1}]}\n"
    )
    run_task(instance, "nightly")
    run_task(instance, "drill")
    config = str(tmp_path / "sexton.yaml")
    runner = CliRunner()

    listed = runner.invoke(main, ["backup", "ls", "nightly", "--json", "-c", config])
    assert listed.exit_code == 0, listed.output
    (backup,) = json.loads(listed.output)
    assert set(backup) == BACKUP_KEYS
    assert backup["verified"] is True and backup["keep"] is False and backup["drills"] == 1
    assert backup["checksum"].startswith("sha256:") and backup["created_at"].endswith("Z")
    assert set(backup["last_drill"]) == DRILL_KEYS and backup["last_drill"]["ok"] is True

    kept = runner.invoke(main, ["backup", "keep", "nightly", backup["name"], "-c", config])
    assert kept.exit_code == 0, kept.output
    again = runner.invoke(main, ["backup", "ls", "nightly", "--json", "-c", config])
    assert json.loads(again.output)[0]["keep"] is True

    table = runner.invoke(main, ["backup", "ls", "nightly", "-c", config])
    assert table.exit_code == 0 and "passed" in table.output


def test_unknown_task_or_backup_is_one_line_and_exit_1(real_instance, store_dir, tmp_path):
    real_instance(
        f"stores:\n  vault: {{url: '{store_dir.as_uri()}'}}\n"
        "tasks:\n  - {name: nightly, type: backup, source: {sqlite: x.db}, destination: vault}\n"
        "  - {name: hello, type: command, command: [echo]}\n"
    )
    config = str(tmp_path / "sexton.yaml")
    runner = CliRunner()
    for args, message in [
        (["backup", "ls", "hello"], "no backup task named 'hello'"),
        (["backup", "keep", "nightly", "nightly/none.sqlite"], "no backup named"),
    ]:
        result = runner.invoke(main, [*args, "-c", config])
        assert result.exit_code == 1
        assert message in result.output
