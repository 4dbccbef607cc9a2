"""The command line as scripts and operators use it: exit codes and JSON shapes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RUN_KEYS = {
    "id",
    "task",
    "slot",
    "reason",
    "state",
    "attempt",
    "queued_at",
    "started_at",
    "finished_at",
    "worker",
    "items",
    "bytes",
    "error",
}
STATUS_KEYS = {
    "task",
    "type",
    "executor",
    "status",
    "enabled",
    "last_run",
    "last_success",
    "next_due",
    "failures",
    "error",
}


@pytest.fixture
def sexton(tmp_path: Path, database_url: str):
    config = tmp_path / "sexton.yaml"
    config.write_text(
        f"database: '{database_url}'\n"
        "tasks:\n"
        "  - {name: hello, type: command, command: [echo, hello archive], every: 1h}\n"
        "  - {name: broken, type: command, shell: true, command: 'echo bad >&2; exit 4'}\n"
        "  - {name: healing, type: command, command: ['true'], requires: [initial-sync]}\n"
        "  - {name: initial-sync, type: command, command: ['true']}\n"
        "  - {name: export, type: heartbeat, cron: '0 2 * * *'}\n"
        "  - {name: usage-review, type: manual, cron: '0 9 1 * *'}\n"
    )

    def call(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "sexton", *args, "-c", str(config)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == expect, (result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result

    return call


def test_run_succeeds_with_exit_0_and_records_a_manual_run(sexton):
    result = sexton("run", "hello", "--json")
    run = json.loads(result.stdout)
    assert set(run) >= RUN_KEYS
    assert (run["state"], run["reason"], run["task"]) == ("succeeded", "manual", "hello")
    shown = json.loads(sexton("runs", "show", str(run["id"]), "--json").stdout)
    assert shown["log_tail"] == "hello archive"
    assert [e["to"] for e in shown["events"]] == ["queued", "running", "succeeded"]


def test_run_of_a_failing_task_exits_1_with_its_error(sexton):
    result = sexton("run", "broken", expect=1)
    assert "exit code 4" in result.stdout
    assert "bad" in result.stdout


def test_run_refuses_a_task_whose_requirement_never_succeeded(sexton):
    result = sexton("run", "healing", expect=1)
    assert "initial-sync" in result.stderr
    assert json.loads(sexton("runs", "--json").stdout) == []  # nothing recorded
    sexton("run", "initial-sync")
    sexton("run", "healing")


def test_runs_lists_newest_first_with_the_stable_shape(sexton):
    sexton("run", "hello")
    sexton("run", "broken", expect=1)
    runs = json.loads(sexton("runs", "--json", "--limit", "5").stdout)
    assert [r["task"] for r in runs] == ["broken", "hello"]
    assert all(set(r) >= RUN_KEYS for r in runs)
    only = json.loads(sexton("runs", "hello", "--json").stdout)
    assert [r["task"] for r in only] == ["hello"]


def test_status_json_has_every_task_in_the_stable_shape(sexton):
    sexton("run", "hello")
    statuses = {s["task"]: s for s in json.loads(sexton("status", "--json").stdout)}
    assert set(statuses) == {"hello", "broken", "healing", "initial-sync", "export", "usage-review"}
    assert all(set(s) >= STATUS_KEYS for s in statuses.values())
    assert statuses["hello"]["status"] == "up"
    assert statuses["hello"]["next_due"].endswith(":00:00Z")
    assert statuses["export"]["executor"] == "heartbeat"
    assert statuses["usage-review"]["status"] == "new"


def test_ping_and_done_record_work_done_elsewhere_and_by_people(sexton):
    sexton("ping", "export", "start")
    sexton("ping", "export", "fail", "--exit-code", "2")
    sexton("done", "usage-review", "--note", "quotas fine")
    runs = json.loads(sexton("runs", "--json").stdout)
    assert [(r["task"], r["state"]) for r in runs] == [
        ("usage-review", "succeeded"),
        ("export", "failed"),
    ]
    assert runs[0]["note"] == "quotas fine"
    assert runs[1]["error"] == "exit code 2"
    status = {s["task"]: s["status"] for s in json.loads(sexton("status", "--json").stdout)}
    assert status["export"] == "down"
    sexton("clear", "export")


def test_trigger_then_cancel_a_queued_run(sexton):
    queued = json.loads(sexton("trigger", "hello", "--json").stdout)
    assert queued["state"] == "queued"
    sexton("cancel", str(queued["id"]))
    (run,) = json.loads(sexton("runs", "--json").stdout)
    assert run["state"] == "cancelled"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "helo"), "did you mean 'hello'"),
        (("done", "hello"), "records manual duties"),
        (("ping", "hello", "start"), "only heartbeat tasks"),
        (("runs", "show", "999"), "no run with id 999"),
        (("cancel", "999"), "no run with id 999"),
    ],
)
def test_user_mistakes_get_one_clear_line_and_change_nothing(sexton, args, message):
    result = sexton(*args, expect=1)
    assert message in result.stderr
    assert json.loads(sexton("runs", "--json").stdout) == []


def test_init_writes_a_config_that_validates(tmp_path: Path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "sexton", "init", str(target)], check=True)
    result = subprocess.run(
        [sys.executable, "-m", "sexton", "validate", "-c", str(target / "sexton.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (target / "sexton.db").exists()
