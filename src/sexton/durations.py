"""Durations as operators write them: ``01:00:00``, ``1 day, 00:00:00``, ``90s``, ``1d12h``, 30."""

from __future__ import annotations

import re
from datetime import timedelta

_CLOCK = re.compile(
    r"^\s*(?:(?P<days>\d+)\s+days?,\s*)?(?P<h>\d+):(?P<m>[0-5]?\d):(?P<s>[0-5]?\d(?:\.\d+)?)\s*$"
)
_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_COMPOUND = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*[wdhms]\s*)+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])")
_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")

EXPECTED = "a duration such as 01:00:00, '1 day, 00:00:00', 90s, 15m, 2h, 7d, 1d12h or seconds"


def parse_duration(value: object) -> timedelta:
    """Return the duration ``value`` stands for; ``ValueError`` names the accepted forms."""
    try:
        return _parse(value)
    except OverflowError:  # 1e300, .inf, 99999999999d: too long for a timedelta
        raise ValueError(f"expected {EXPECTED}, got {value!r} (too long)") from None


def _parse(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected {EXPECTED}, got {value!r}")
    if isinstance(value, int | float):
        if value != value:  # NaN
            raise ValueError(f"expected {EXPECTED}, got {value!r}")
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError(f"expected {EXPECTED}, got {value!r}")
    text = value.strip().lower()
    if _NUMBER.match(text):
        return timedelta(seconds=float(text))
    clock = _CLOCK.match(text)
    if clock:
        return timedelta(
            days=int(clock["days"] or 0),
            hours=int(clock["h"]),
            minutes=int(clock["m"]),
            seconds=float(clock["s"]),
        )
    if _COMPOUND.match(text):
        seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))
        return timedelta(seconds=seconds)
    raise ValueError(f"expected {EXPECTED}, got {value!r}")


def format_duration(delta: timedelta) -> str:
    """Short human form (``1d2h``, ``90s`` → ``1m30s``) for tables and messages."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)
