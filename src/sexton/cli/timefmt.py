"""Times as people read them in tables."""

from __future__ import annotations

from datetime import datetime


def short_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else ""
