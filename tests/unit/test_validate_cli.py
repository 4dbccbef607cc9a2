"""`sexton validate -c FILE`, run as the installed command: exit 0 valid, 2 with file:line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SEXTON = Path(sys.executable).parent / "sexton"


def validate(config: Path, columns: str | None = "1000") -> subprocess.CompletedProcess[str]:
    """Run the command; ``columns`` wide enough that output is never wrapped, unless None."""
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith("SEXTON_") and k != "COLUMNS"
    }
    if columns is not None:
        environ["COLUMNS"] = columns
    return subprocess.run(
        [str(SEXTON), "validate", "-c", str(config)],
        capture_output=True,
        text=True,
        env=environ,
        cwd=config.parent,
        timeout=60,
    )


def refused(config: Path, columns: str | None = "1000") -> str:
    """stderr of a validation that must fail with exit status 2 and no traceback."""
    result = validate(config, columns)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    return result.stderr


def test_a_valid_file_exits_0(tmp_path: Path) -> None:
    config = tmp_path / "sexton.yaml"
    config.write_text(
        "tasks:\n"
        "  - {name: hello, type: command, every: 15m, command: [echo, hi]}\n"
        "  - {name: nightly, type: command, cron: '0 0 2 * * *', command: [/bin/true]}\n"
    )
    result = validate(config)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout
    assert result.stderr == ""


def test_bad_yaml_exits_2_with_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "sexton.yaml"
    config.write_text("tasks:\n  - name: a\n    command: [oops\n")
    assert refused(config).startswith(f"{config}:4: invalid YAML")


def test_json_with_a_trailing_comma_exits_2_with_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "sexton.json"
    config.write_text('{\n  "tasks": [\n    {"name": "a", "type": "command"},\n  ]\n}\n')
    assert refused(config).startswith(f"{config}:4: invalid JSON")


def test_an_unknown_key_exits_2_with_a_suggestion(tmp_path: Path) -> None:
    config = tmp_path / "sexton.yaml"
    config.write_text("tasks:\n  - name: a\n    type: command\n    evry: 1h\n    command: x\n")
    stderr = refused(config)
    assert stderr.startswith(f"{config}:4: tasks[0].evry: unknown key 'evry'")
    assert "did you mean 'every'?" in stderr


def test_an_unknown_type_exits_2_with_a_suggestion(tmp_path: Path) -> None:
    config = tmp_path / "sexton.yaml"
    config.write_text("tasks:\n  - name: a\n    type: comand\n    command: x\n")
    stderr = refused(config)
    assert stderr.startswith(f"{config}:3: tasks[0].type: unknown task type 'comand'")
    assert "did you mean 'command'?" in stderr


def test_a_librarian_file_with_an_unknown_type_exits_2_with_a_suggestion(tmp_path: Path) -> None:
    config = tmp_path / "librarian-background.json"
    config.write_text('{"check_integrty": [\n  {"task_name": "c", "every": "00:01:00"}\n]}\n')
    message = refused(config)
    assert message.startswith(f"{config}:2: check_integrty[0].type: unknown task type")
    assert "check_integrity" in message


def test_a_file_that_is_not_utf8_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "sexton.yaml"
    config.write_bytes(b"tasks: []\n# \xff\n")
    assert refused(config).startswith(f"{config}:2: not UTF-8 text")


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    assert "no config file" in refused(tmp_path / "nowhere.yaml")


def test_every_problem_is_one_line_starting_with_its_file_at_any_width(tmp_path: Path) -> None:
    config = tmp_path / "sexton.yaml"
    config.write_text(
        "tasks:\n"
        "  - {name: a-task-with-a-long-name, type: comand, command: x}\n"
        "  - {name: b, type: command, timezone: Europe/Lundon, command: x}\n"
        "  - {name: c, type: command, soft_timeout: soon, command: x}\n"
    )
    lines = refused(config, columns=None).splitlines()
    assert len(lines) == 3, lines
    assert all(line.startswith(f"{config}:") for line in lines), lines
