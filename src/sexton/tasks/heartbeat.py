"""A job that runs elsewhere (its own cron, another service) and only reports in."""

from __future__ import annotations

from .base import RunContext, Task, TaskFailed, TaskParams


class HeartbeatTask(Task):
    type = "heartbeat"
    executor = "heartbeat"

    class Params(TaskParams):
        description: str | None = None

    def run(self, ctx: RunContext) -> None:
        raise TaskFailed("a heartbeat task runs elsewhere: it reports with `sexton ping`")
