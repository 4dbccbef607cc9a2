"""What a run would delete or copy, said before it does (``sexton plan``).

A task type that deletes or copies overrides ``Task.plan``: it lists the same candidates its
``run`` acts on, through the same code, and changes nothing. The plan's context is read-only:
the catalog on a read-only database, stores only listed and stat'ed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..catalog import Voucher

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..stores import Store

Action = Literal["delete", "copy"]


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """One file a run would delete or copy, and why."""

    action: Action
    store: str  # where the file is deleted from, or copied to
    path: str
    bytes: int
    reason: str
    safe_by: tuple[Voucher, ...] = field(default=())

    def to_json(self, task: str, type: str) -> dict[str, Any]:
        """The stable shape of ``sexton plan --json``."""
        return {
            "task": task,
            "type": type,
            "action": self.action,
            "store": self.store,
            "path": self.path,
            "bytes": self.bytes,
            "reason": self.reason,
            "safe_by": [v.to_json() for v in self.safe_by],
        }


class PlanContext(Protocol):
    """What a task may use to plan: a subset of ``RunContext``, all of it read-only."""

    task_name: str
    params: Any

    @property
    def catalog(self) -> Catalog:
        """The catalog, on a database opened read-only."""

    @property
    def stores(self) -> Mapping[str, Store]:
        """The configured stores: plan may list and stat them, never write."""

    def now(self) -> datetime:
        """The time the plan is for."""
