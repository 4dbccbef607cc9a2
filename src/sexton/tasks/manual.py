"""A duty people do by hand; due by its schedule, recorded with ``sexton done TASK``."""

from __future__ import annotations

from .base import RunContext, Task, TaskFailed, TaskParams


class ManualTask(Task):
    type = "manual"
    executor = "manual"

    class Params(TaskParams):
        instructions: str | None = None

    def run(self, ctx: RunContext) -> None:
        raise TaskFailed("a manual task is done by a person: record it with `sexton done`")
