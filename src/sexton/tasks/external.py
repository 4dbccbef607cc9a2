"""A job another service does: it claims the queued runs over the HTTP API (``POST
/api/v1/runs/claim``), keeps them by heartbeat and reports how they ended."""

from __future__ import annotations

from .base import RunContext, Task, TaskFailed, TaskParams


class ExternalTask(Task):
    type = "external"
    executor = "external"

    class Params(TaskParams):
        description: str | None = None  # what the claiming service does, for the reader

    def run(self, ctx: RunContext) -> None:
        raise TaskFailed("an external task is run by the service that claims it over the API")
