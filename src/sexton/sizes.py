"""Byte sizes as operators write them (``500G``, ``1.5TiB``, ``1000000``) and store reserves.

Decimal units (``K``, ``MB``, ...) are powers of 1000 and binary ones (``KiB``, ``Mi``, ...)
powers of 1024, as disk vendors and ``df -H`` / ``df -h`` use them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_PREFIXES = "kmgtpe"

_SIZE = re.compile(r"(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[kmgtpe]?)(?P<binary>i?)b?", re.I)


def parse_size(value: str | int) -> int:
    """Return a size in whole bytes; fractions of a byte (``1.5`` bytes) are dropped."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"expected a size such as 500G or 1.5TiB, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative, got {value}")
        return value
    match = _SIZE.fullmatch(value.strip())
    if match is None:
        raise ValueError(
            f"bad size {value!r}: expected a number with an optional unit "
            "(K, M, G, T, P, E for powers of 1000; KiB, MiB, GiB, ... for powers of 1024)"
        )
    unit = match["unit"].lower()
    base = 1024 if match["binary"] else 1000
    if match["binary"] and not unit:
        raise ValueError(f"bad size {value!r}: 'i' needs a unit before it, as in KiB")
    power = _PREFIXES.index(unit) + 1 if unit else 0
    return int(Decimal(match["number"]) * base**power)


def format_size(nbytes: int) -> str:
    """Render bytes for people, in binary units with one decimal (``1.5 GiB``)."""
    if abs(nbytes) < 1024:
        return f"{nbytes} B"
    size = nbytes / 1024
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} PiB"


@dataclass(frozen=True)
class Reserve:
    """Space a store keeps free: a number of bytes, or a fraction of its total size."""

    nbytes: int = 0
    fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.nbytes < 0:
            raise ValueError(f"a reserve cannot be negative, got {self.nbytes}")
        if not 0.0 <= self.fraction < 1.0:
            raise ValueError(f"a reserve fraction must be in [0, 1), got {self.fraction}")
        if self.nbytes and self.fraction:
            raise ValueError("a reserve is either bytes or a percentage, not both")

    @classmethod
    def parse(cls, value: str | int | Reserve) -> Reserve:
        """Read ``5%`` as a fraction and anything else as a size (``200G``, ``0``)."""
        if isinstance(value, Reserve):
            return value
        if isinstance(value, str) and value.strip().endswith("%"):
            number = value.strip()[:-1].strip()
            try:
                percent = Decimal(number)
            except InvalidOperation as exc:
                raise ValueError(f"bad reserve {value!r}: expected a percentage like 5%") from exc
            if not Decimal(0) <= percent < Decimal(100):
                raise ValueError(f"bad reserve {value!r}: a percentage must be from 0 to <100")
            return cls(fraction=float(percent / 100))
        return cls(nbytes=parse_size(value))

    def bytes_of(self, total: int | None) -> int | None:
        """Bytes to keep free on a store of ``total`` bytes; None if a fraction of unknown."""
        if not self.fraction:
            return self.nbytes
        if total is None:
            return None
        return int(total * self.fraction)

    def __str__(self) -> str:
        if self.fraction:
            return f"{Decimal(repr(self.fraction)) * 100:f}".rstrip("0").rstrip(".") + "%"
        return str(self.nbytes)


# Field types for pydantic models: accept "500G" / "5%" in config, store ints / Reserve.
SizeBytes = Annotated[int, BeforeValidator(parse_size)]
ReserveSize = Annotated[Reserve, BeforeValidator(Reserve.parse), PlainSerializer(str)]
