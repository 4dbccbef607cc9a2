"""Commands started together on a new database: one creates the schema, none fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_commands_started_together_on_a_new_database_all_work(
    tmp_path: Path, database_url: str
) -> None:
    config = tmp_path / "sexton.yaml"
    config.write_text("tasks:\n  - {name: a, type: command, command: 'true', every: 1h}\n")
    environ = {**os.environ, "SEXTON_DATABASE_URL": database_url}
    commands = [
        subprocess.Popen(
            [sys.executable, "-m", "sexton", "status", "--json", "-c", str(config)],
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for command in commands:
        out, err = command.communicate(timeout=120)
        assert command.returncode == 0, err
        assert '"task": "a"' in out
