"""The SIGKILL harness of the crash tests (DESIGN §5, invariants 2 and 3), shared by the clone
and drain tests and by ``bench/chaos.py``, which runs the same scenarios 100 times.

A scenario says how to set a trial up, when its run is worth killing and what must hold
after every kill; ``run_trials`` does the rest: start ``sexton run TASK`` in a process, kill
it at a random moment, expire its lease as a scheduler would, check, and finally let one run
complete and check that the work is done.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from sexton.engine.service import Instance

# `python -m sexton run TASK -c CONFIG`, with its imports done before it is told to go: the
# next trial's process starts up while the current one works, which halves a test's time.
READY_THEN_RUN = """
import sys
from sexton.cli import main
sys.stdin.readline()
main(["run", sys.argv[1], "-c", sys.argv[2]], prog_name="sexton")
"""
WAIT_AT_MOST = 60.0  # seconds a kill waits for its moment; a run that never gets there is cut
FINAL_RUN_TIMEOUT = 120.0


class Scenario(Protocol):
    """One crash scenario: a task of a site, and what must hold however it is killed."""

    task: str
    config: Path
    instance: Instance

    def before_trial(self, rng: random.Random) -> None:
        """Prepare the next trial (new source files, ...)."""

    def kill_moment(self, rng: random.Random) -> tuple[Callable[[], bool], float]:
        """When to kill: once the condition holds, after the given seconds."""

    def check(self) -> None:
        """Assert the invariants hold now; called after every kill and at the end."""

    def check_complete(self) -> None:
        """Assert that the work is all done, after a run that was not killed."""


class Runner:
    """Keeps one `sexton run TASK` process imported and waiting for the next trial."""

    def __init__(self, config: Path, task: str) -> None:
        self.config = config
        self.task = task
        self.waiting = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", READY_THEN_RUN, self.task, str(self.config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def start(self) -> subprocess.Popen[bytes]:
        child, self.waiting = self.waiting, self._spawn()
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        child.stdin.close()
        return child

    def close(self) -> None:
        self.waiting.kill()
        self.waiting.wait()


def kill_when(child: subprocess.Popen[bytes], ready: Callable[[], bool], delay: float) -> bool:
    """SIGKILL ``child`` ``delay`` seconds after ``ready()`` holds; True if it was killed,
    False if it ended by itself first."""
    deadline = time.monotonic() + WAIT_AT_MOST
    while child.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(delay)
    killed = child.poll() is None
    if killed:
        os.kill(child.pid, signal.SIGKILL)
    child.wait()
    return killed


@dataclass(frozen=True)
class Outcome:
    trials: int
    killed: int  # trials whose run was cut short (the others finished before their moment)


def run_trials(scenario: Scenario, trials: int, rng: random.Random) -> Outcome:
    """Kill the scenario's run ``trials`` times, checking after each; then let it finish."""
    runner = Runner(scenario.config, scenario.task)
    killed = 0
    try:
        for _ in range(trials):
            scenario.before_trial(rng)
            ready, delay = scenario.kill_moment(rng)
            killed += kill_when(runner.start(), ready, delay)
            # The killed run holds its lease: expire it, as a scheduler would once it lapsed.
            scenario.instance.book.reap(datetime.now(UTC) + timedelta(days=1))
            scenario.check()
        final = runner.start()
        assert final.stderr is not None
        code = final.wait(timeout=FINAL_RUN_TIMEOUT)
        assert code == 0, final.stderr.read().decode()
        scenario.check()
        scenario.check_complete()
    finally:
        runner.close()
    return Outcome(trials, killed)


def files_under(root: Path) -> dict[str, Path]:
    """Every file under ``root`` (temporary ones too) by its relative name."""
    return {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file()}
