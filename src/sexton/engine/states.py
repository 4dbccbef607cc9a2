"""Run states and the moves between them (DESIGN §4, "Run states")."""

from __future__ import annotations

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
TIMED_OUT = "timed_out"
CANCELLED = "cancelled"
ABANDONED = "abandoned"
SKIPPED = "skipped"

FINISHED = frozenset({SUCCEEDED, FAILED, TIMED_OUT, CANCELLED, SKIPPED})
UNSUCCESSFUL = frozenset({FAILED, TIMED_OUT})

# Which states a run may move to from each state. `running → queued` is a run handed back
# unfinished when its worker shuts down cleanly; `abandoned → queued` is the retry of a run
# whose worker died.
ALLOWED: dict[str | None, frozenset[str]] = {
    None: frozenset({QUEUED, RUNNING}),
    QUEUED: frozenset({RUNNING, SKIPPED, CANCELLED}),
    RUNNING: frozenset({SUCCEEDED, FAILED, TIMED_OUT, CANCELLED, ABANDONED, QUEUED}),
    ABANDONED: frozenset({QUEUED, FAILED}),
}

REASONS = ("schedule", "manual", "retry", "start", "after", "api")
