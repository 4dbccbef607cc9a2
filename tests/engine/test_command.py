"""The `command` task type: exit codes, output, environment, timeouts that end whole trees."""

from __future__ import annotations

import os
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import psutil
import pytest

from sexton.clock import SystemClock
from sexton.engine.service import Instance
from sexton.engine.worker import Worker


@pytest.fixture
def real_instance(write_config):
    """Command timeouts are real seconds: these tests use the system clock."""
    opened = []

    def make(body: str, **environ: str) -> Instance:
        instance = Instance.open(write_config(body, **environ), SystemClock())
        opened.append(instance)
        return instance

    yield make
    for instance in opened:
        instance.engine.dispose()


def run_task(instance, task):
    instance.book.queue(task, "manual", instance.clock.now())
    return Worker(instance.config, instance.book, instance.clock).run_once()


def test_exit_code_zero_succeeds_and_output_tail_is_kept(real_instance):
    instance = real_instance(
        "tasks:\n  - {name: hello, type: command, command: [sh, -c, 'echo one; echo two >&2']}\n"
    )
    run = run_task(instance, "hello")
    assert (run.state, run.exit_code) == ("succeeded", 0)
    assert run.log_tail.splitlines() == ["one", "two"]


def test_nonzero_exit_fails_with_its_code(real_instance):
    instance = real_instance(
        "tasks:\n  - {name: bad, type: command, shell: true, command: 'echo oops; exit 3'}\n"
    )
    run = run_task(instance, "bad")
    assert (run.state, run.exit_code, run.error) == ("failed", 3, "exit code 3")
    assert "oops" in run.log_tail


def test_missing_program_fails_clearly(real_instance):
    instance = real_instance(
        "tasks:\n  - {name: gone, type: command, command: [/nonexistent/tool]}\n"
    )
    run = run_task(instance, "gone")
    assert run.state == "failed"
    assert "cannot start '/nonexistent/tool'" in run.error


def test_env_files_reach_the_command_and_task_env_file_overrides(real_instance, tmp_path):
    (tmp_path / "deploy.env").write_text("export STORE=/data/store\nCOLLECTION='web 2024'\n")
    (tmp_path / "secrets.env").write_text("API_KEY=s3cr3t\nCOLLECTION=override\n")
    instance = real_instance(
        "env_file: deploy.env\n"
        "tasks:\n"
        "  - name: show\n    type: command\n    env_file: secrets.env\n    shell: true\n"
        "    command: 'echo \"$STORE|$COLLECTION|$API_KEY\"'\n"
    )
    run = run_task(instance, "show")
    assert run.log_tail == "/data/store|override|s3cr3t"


def test_hard_timeout_kills_the_whole_tree_even_a_child_ignoring_sigterm(real_instance, tmp_path):
    pid_file = tmp_path / "child.pid"
    script = tmp_path / "stubborn.sh"
    script.write_text(
        textwrap.dedent(f"""\
        #!/bin/sh
        sh -c 'trap "" TERM; echo $$ > {pid_file}; while true; do sleep 0.1; done' &
        wait
        """)
    )
    script.chmod(0o755)
    instance = real_instance(
        "worker: {kill_grace: 0.5s}\n"
        f"tasks:\n  - {{name: stuck, type: command, command: [{script}], hard_timeout: 1s}}\n"
    )
    began = time.monotonic()
    run = run_task(instance, "stuck")
    assert run.state == "timed_out"
    assert time.monotonic() - began < 30
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while psutil.pid_exists(child) and psutil.Process(child).status() != "zombie":
        assert time.monotonic() < deadline, "the child that ignored SIGTERM survived"
        time.sleep(0.05)


def test_soft_timeout_asks_the_command_to_stop_and_records_timed_out(real_instance):
    instance = real_instance(
        "tasks:\n  - {name: slow, type: command, command: [sleep, '30'], soft_timeout: 0.3s}\n"
    )
    run = run_task(instance, "slow")
    assert run.state == "timed_out"
    assert "soft timeout" in run.error


def test_cwd_is_used(real_instance, tmp_path):
    (tmp_path / "marker.txt").write_text("here")
    instance = real_instance(
        "tasks:\n"
        f"  - {{name: look, type: command, command: [cat, marker.txt], cwd: '{tmp_path}'}}\n"
    )
    assert run_task(instance, "look").log_tail == "here"


def test_secrets_from_env_files_are_not_in_the_run_record(real_instance, tmp_path):
    (tmp_path / "secrets.env").write_text("API_KEY=s3cr3t-value\n")
    instance = real_instance(
        "env_file: secrets.env\ntasks:\n  - {name: quiet, type: command, command: ['true']}\n"
    )
    run = run_task(instance, "quiet")
    assert "s3cr3t" not in repr(run)
    assert os.environ.get("API_KEY") is None
    assert timedelta(0) <= run.finished_at - run.started_at
    assert Path(tmp_path / "secrets.env").exists()
