"""Test task types and helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from sexton.db.tables import runs
from sexton.engine.service import Instance
from sexton.tasks.base import RunContext, Task, TaskFailed, TaskParams

START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday, far from any DST change
S3_BUCKET = "sexton-test"  # created by the `s3_endpoint` fixture


# -- task types used only by tests -------------------------------------------------------


class Recorder:
    """What the test task types did, for assertions."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.release = threading.Event()

    def add(self, name: str) -> None:
        with self.lock:
            self.calls.append(name)


RECORDER = Recorder()


class NoteTask(Task):
    """Records its call; fails while ``fail_times`` of its calls have not yet happened."""

    type = "test_note"

    class Params(TaskParams):
        fail_times: int = 0
        items: int = 0

    def run(self, ctx: RunContext) -> None:
        RECORDER.add(ctx.task_name)
        ctx.progress(items=ctx.params.items)
        failed_so_far = RECORDER.calls.count(ctx.task_name) - 1
        if failed_so_far < ctx.params.fail_times:
            raise TaskFailed(f"planned failure {failed_so_far + 1}")


class WaitTask(Task):
    """Runs until released (or told to stop), to hold a task in `running`."""

    type = "test_wait"

    class Params(TaskParams):
        pass

    def run(self, ctx: RunContext) -> None:
        RECORDER.add(ctx.task_name)
        while not RECORDER.release.wait(0.01):
            if ctx.should_stop():
                return


def fresh_recorder() -> Recorder:
    global RECORDER
    RECORDER = Recorder()
    return RECORDER


def run_states(instance: Instance, task: str | None = None) -> list[tuple[Any, ...]]:
    """(task, reason, state, attempt) of every run, oldest first."""
    query = sa.select(runs.c.task, runs.c.reason, runs.c.state, runs.c.attempt).order_by(runs.c.id)
    if task is not None:
        query = query.where(runs.c.task == task)
    with instance.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]
