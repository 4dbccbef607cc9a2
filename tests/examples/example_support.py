"""Helpers for the end-to-end example tests: copy an example, run `sexton` as a user would.

Every example test runs the real command line in subprocesses, from a copy of the example in
a temporary directory, so what passes here is what an operator gets by following the README.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COMMAND_TIMEOUT = 120.0  # seconds; a hung subprocess fails the test instead of hanging CI
POLL = 0.05  # seconds between looks at a condition; a look is cheap, so look often

T = TypeVar("T")


def copy_example(name: str, destination: Path) -> Path:
    """Copy ``examples/NAME`` into ``destination/NAME``; return the copy's directory."""
    target = destination / name
    shutil.copytree(EXAMPLES / name, target)
    return target


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """Poll ``condition`` until it returns something truthy, and return that; fail after timeout.

    For waiting on a subprocess to reach a state, never on a schedule (which the tests trigger).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(POLL)


@dataclass
class Sexton:
    """The ``sexton`` command line for one example directory, with its environment."""

    directory: Path
    database_url: str
    environ: dict[str, str] = field(default_factory=dict)
    # The API's address for `sexton serve`, on a free port so tests never collide on 8080;
    # an example takes it with `api: {listen: "${SEXTON_LISTEN:-127.0.0.1:8080}"}`.
    listen: str = field(default_factory=lambda: f"127.0.0.1:{free_port()}")

    @property
    def env(self) -> dict[str, str]:
        """The process environment: ours, the test database, the example's config, extras."""
        return {
            **os.environ,
            "SEXTON_DATABASE_URL": self.database_url,
            "SEXTON_CONFIG": str(self.directory / "sexton.yaml"),
            "SEXTON_LISTEN": self.listen,
            "PYTHONUNBUFFERED": "1",
            **self.environ,
        }

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "sexton", *args]

    def run(self, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        """Run ``sexton ARGS`` in the example directory; check its exit code unless None."""
        done = subprocess.run(
            self.command(*args),
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        if expect is not None and done.returncode != expect:
            raise AssertionError(
                f"`sexton {' '.join(args)}` exited {done.returncode}, expected {expect}\n"
                f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
            )
        return done

    def json(self, *args: str, expect: int | None = 0) -> Any:
        """Run ``sexton ARGS --json`` and parse what it printed."""
        return json.loads(self.run(*args, "--json", expect=expect).stdout)

    def status(self) -> dict[str, dict[str, Any]]:
        """``sexton status --json`` keyed by task name."""
        return {row["task"]: row for row in self.json("status")}

    def runs(self, task: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """``sexton runs [TASK] --json``, oldest first (the command prints newest first)."""
        args = ["runs", *([task] if task else []), "--limit", str(limit)]
        return list(reversed(self.json(*args)))

    def wait_ready(self) -> None:
        """Wait until a started ``sexton serve`` answers on its API (``/healthz``): only then
        has it created or upgraded the database, so other commands may use it."""

        def answers() -> bool:
            try:
                return httpx.get(f"http://{self.env['SEXTON_LISTEN']}/healthz").is_success
            except httpx.TransportError:
                return False

        wait_for(answers, "sexton serve to answer on its API")

    @contextmanager
    def serve(self, *args: str) -> Iterator[subprocess.Popen[str]]:
        """``sexton serve ARGS`` while the block runs, then stopped with SIGTERM as a user would.

        Its output goes to ``serve.log`` in the example directory (a file, not a pipe, so a
        chatty service never blocks on a full pipe); a failed stop shows the log.
        """
        log_path = self.directory / "serve.log"
        with log_path.open("a") as log:
            process = subprocess.Popen(
                self.command("serve", *args),
                cwd=self.directory,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
            try:
                yield process
            except BaseException:
                print(f"--- serve.log\n{log_path.read_text()}")  # shown with the failure
                raise
            finally:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                try:
                    code = process.wait(timeout=COMMAND_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    code = None
        if code != 0:
            raise AssertionError(
                f"`sexton serve` ended with {code}\n--- serve.log\n{log_path.read_text()}"
            )


def last_run_succeeded(status: dict[str, Any]) -> bool:
    """A task's ``sexton status`` row says its last run succeeded. Its status is `up`, or
    `late` when one of its slots went by since: tests run tasks by hand, off the schedule,
    and a slow machine can cross an hour boundary."""
    return (
        status["status"] in ("up", "late")
        and status["failures"] == 0
        and status["last_success"] is not None
    )
