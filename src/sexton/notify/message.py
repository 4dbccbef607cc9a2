"""What a notification says: one event about one task (or one damaged file)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..engine.record import iso


@dataclass(frozen=True)
class Notification:
    event: str  # down | up | corruption
    subject: str  # one line: the e-mail subject, the chat message's first line
    text: str  # what happened and what to do
    at: datetime
    task: str | None = None
    details: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The webhook body; ``text`` also makes it a valid Slack/Mattermost message."""
        return {
            "event": self.event,
            "task": self.task,
            "at": iso(self.at),
            "subject": self.subject,
            "text": f"{self.subject}\n{self.text}",
            "details": dict(self.details),
        }
