"""The targets and checks a `restore_drill` config may give, told apart by their keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import Discriminator, Tag

from .drill import Check, DrillCheck, DrillTarget, PostgresTarget, SqliteTarget
from .drill_files import DirectoryTarget, FileCheck
from .drill_mongo import CollectionCheck, MongoTarget

TARGETS: dict[str, type[DrillTarget]] = {
    "sqlite": SqliteTarget,
    "postgres": PostgresTarget,
    "directory": DirectoryTarget,
    "mongodb": MongoTarget,
}


def _target_kind(value: Any) -> str | None:
    if isinstance(value, DrillTarget):
        return next(k for k, cls in TARGETS.items() if isinstance(value, cls))
    if isinstance(value, dict):
        return next((k for k in TARGETS if k in value), None)
    return None


Target = Annotated[
    Annotated[SqliteTarget, Tag("sqlite")]
    | Annotated[PostgresTarget, Tag("postgres")]
    | Annotated[DirectoryTarget, Tag("directory")]
    | Annotated[MongoTarget, Tag("mongodb")],
    Discriminator(
        _target_kind,
        custom_error_type="target_kind",
        custom_error_message=(
            "expected {sqlite: SCRATCH_FILE}, {postgres: SERVER_URL}, "
            "{directory: SCRATCH_DIR} or {mongodb: SERVER_URL}"
        ),
    ),
]

# The keys that make a check a files or a collection check; any other is a SQL check, whose
# own validation then says what it lacks.
_FILE_KEYS = ("files_min", "glob", "path", "exists")


def _check_kind(value: Any) -> str:
    if isinstance(value, DrillCheck):
        return value.kind
    if isinstance(value, dict):
        if any(k in value for k in _FILE_KEYS):
            return FileCheck.kind
        if "collection" in value or "min_docs" in value:
            return CollectionCheck.kind
    return Check.kind


AnyCheck = Annotated[
    Annotated[Check, Tag(Check.kind)]
    | Annotated[FileCheck, Tag(FileCheck.kind)]
    | Annotated[CollectionCheck, Tag(CollectionCheck.kind)],
    Discriminator(_check_kind),
]


def misfit(target: DrillTarget, checks: Sequence[DrillCheck]) -> str | None:
    """Why a check cannot run on ``target``, or None when all can."""
    for index, check in enumerate(checks):
        if check.kind != target.kind:
            needed = next(t for t in TARGETS.values() if t.kind == check.kind)
            return (
                f"checks[{index}] ({check.label}) needs a target {needed.example}; "
                f"this drill restores into {target.example}"
            )
    return None
