"""`sexton plan` on a backup task: the backups its next run's retention deletes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from sexton.backups import BackupBook
from sexton.cli import main
from sexton.db import connect


def sexton(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "-c", str(config)])
    return result.exit_code, result.output


def test_plan_names_the_backups_the_next_run_lets_go(tmp_path, database_url):
    vault = tmp_path / "vault"
    vault.mkdir()
    config = tmp_path / "sexton.yaml"
    config.write_text(
        f"database: {database_url}\n"
        f"stores:\n  vault: {{url: '{vault.as_uri()}'}}\n"
        "tasks:\n  - name: nightly\n    type: backup\n    destination: vault\n"
        "    file_name: '{task}/{date:%Y%m%dT%H%M%S%f}.{ext}'\n"
        "    source: {command: [printf, backup], suffix: txt}\n"
        "    retention: {keep_last: 2}\n"
    )
    for _ in range(3):
        code, output = sexton(config, "run", "nightly")
        assert code == 0, output
    engine = connect(database_url)
    book = BackupBook(engine)
    live = sorted(b.name for b in book.of_task("nightly"))
    assert len(live) == 2

    code, output = sexton(config, "plan", "--json")
    assert code == 0, output
    planned = json.loads(output)
    assert [(s["task"], s["action"], s["store"], s["path"]) for s in planned] == [
        ("nightly", "delete", "vault", live[0])  # the older: the new one and live[1] stay
    ]
    assert "keep_last: 2" in planned[0]["reason"] and planned[0]["bytes"] == len(b"backup")
    assert sorted(b.name for b in book.of_task("nightly")) == live  # the plan deleted nothing

    code, output = sexton(config, "run", "nightly")
    assert code == 0, output
    after = {b.name for b in book.of_task("nightly")}
    assert set(live) - after == {live[0]}
    assert not (vault / live[0]).exists()
    engine.dispose()
