"""What the API accepts and returns, as pydantic models: they validate requests (a bad body
is a 422 that changes nothing) and publish the JSON shapes of DESIGN §4 in the OpenAPI schema.

Responses are built from the engine's ``to_json`` shapes, so the API and the CLI agree.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from ..engine.record import iso

RunState = Literal[
    "queued", "running", "succeeded", "failed", "timed_out", "cancelled", "abandoned", "skipped"
]
TaskStatusName = Literal["new", "up", "late", "down", "running", "paused", "idle"]

MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database
RunId = Annotated[int, Path(ge=1, le=MAX_ID)]
# The largest integer every JSON client reads exactly (a float's 53-bit mantissa); larger
# bounds are rounded by clients and schema checkers alike.
MAX_JSON_INT = 2**53
MAX_TEXT = 64_000  # bytes of a note, error or log sent to the API that are kept


class Request(BaseModel):
    """Request bodies: unknown keys are errors, like in the config."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    detail: str | list[object]


class RunOut(BaseModel):
    id: int
    task: str
    slot: str | None
    reason: str
    state: RunState
    attempt: int
    queued_at: str
    started_at: str | None
    finished_at: str | None
    worker: str | None
    items: int
    bytes: int
    error: str | None
    not_before: str | None
    exit_code: int | None
    note: str | None


class EventOut(BaseModel):
    id: int
    run_id: int
    task: str
    at: str
    from_state: str | None
    to_state: str | None
    message: str | None


class RunDetail(RunOut):
    log_tail: str | None
    events: list[EventOut]


class TaskOut(BaseModel):
    task: str
    type: str
    executor: str
    status: TaskStatusName
    enabled: bool
    last_run: str | None
    last_success: str | None
    next_due: str | None
    failures: int
    error: str | None
    last_run_id: int | None
    last_outcome: str | None
    retry_at: str | None
    overdue_seconds: float
    idle_since: str | None


class TaskDetail(TaskOut):
    recent_runs: list[RunOut]


class DeletedOut(BaseModel):
    task: str
    deleted: int


class EventsPage(BaseModel):
    events: list[EventOut]
    next_before: int | None = Field(description="pass as ?before= for the next (older) page")


class DoneIn(Request):
    note: str | None = Field(None, max_length=MAX_TEXT)


class ClaimIn(Request):
    tasks: list[str] = Field(default_factory=list, description="empty: any external task")
    worker: str = Field("external", min_length=1, max_length=200)
    lease_seconds: float | None = Field(None, ge=1, le=86_400)


class HeartbeatIn(Request):
    worker: str | None = Field(None, min_length=1, max_length=200)
    lease_seconds: float | None = Field(None, ge=1, le=86_400)


class HeartbeatOut(BaseModel):
    run: RunOut
    lease_expires_at: str | None
    cancel_requested: bool


class FinishIn(Request):
    outcome: Literal["succeeded", "failed"]
    error: str | None = Field(None, max_length=MAX_TEXT)
    exit_code: int | None = Field(None, ge=-(2**31), lt=2**31)
    items: int = Field(0, ge=0, le=MAX_JSON_INT)
    bytes: int = Field(0, ge=0, le=MAX_JSON_INT)
    log: str | None = Field(None, max_length=MAX_TEXT)
    worker: str | None = Field(None, min_length=1, max_length=200)


class Health(BaseModel):
    status: Literal["ok", "failing"]
    database: str


class StoreOut(BaseModel):
    files: int
    bytes: int
    free: int | None
    enabled: bool


class CatalogStatsOut(BaseModel):
    files: int
    bytes: int
    instances: dict[str, int]
    stores: dict[str, StoreOut]
    under_replicated: int  # files below their copies rule (DESIGN §4 counts remote copies)
    lost: int  # files with no verified copy anywhere


class FileOut(BaseModel):
    name: str
    size: int
    checksum: str | None
    created_at: str | None
    ingested_at: str | None
    source: str | None


class ListedFileOut(FileOut):
    store: str | None
    path: str | None
    state: str | None


class InstanceOut(BaseModel):
    store: str
    path: str
    state: str
    deletion_policy: str
    size_seen: int | None
    mtime_seen: float | None
    changed_at: str | None
    verified_at: str | None
    verified_checksum: str | None


class MarkOut(BaseModel):
    name: str
    value: str
    marked_at: str | None


class RepairOut(BaseModel):
    event: Literal["detected", "repaired", "lost"]
    store: str
    source: str | None
    detail: str | None
    at: str


class FileDetailOut(FileOut):
    instances: list[InstanceOut]
    marks: list[MarkOut]
    repairs: list[RepairOut] = []


class NeededFileOut(FileOut):
    path: str


def event_json(row: Any) -> dict[str, Any]:
    """A ``run_events`` row in the API's shape."""
    return {
        "id": row.id,
        "run_id": row.run_id,
        "task": row.task,
        "at": iso(row.at),
        "from_state": row.from_state,
        "to_state": row.to_state,
        "message": row.message,
    }
