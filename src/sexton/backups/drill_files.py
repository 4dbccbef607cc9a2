"""Drilling directory backups (``{path: DIR}``, a tar.gz): extract into a scratch directory,
check that the tree holds what it should, remove it.

Paths in checks are relative to the directory that was backed up (the archive's single
top-level directory), as the operator knows it: ``{path: config/site.ini, exists: true}``.
"""

from __future__ import annotations

import tarfile
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from ..stores import UnsafePath, safe_name
from ..tasks.base import RunContext, TaskFailed
from . import formats
from .drill import FILES, CheckResult, DrillCheck, DrillTarget


class FileCheck(DrillCheck):
    """``{files_min: N}`` (optionally ``glob: "**/*.warc.gz"``): at least N regular files
    (matching the pattern); or ``{path: P, exists: true|false}``: P is there, or is not."""

    kind = FILES
    files_min: int | None = Field(None, ge=0)
    glob: str | None = None
    path: str | None = None
    exists: bool | None = None

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return safe_name(value.rstrip("/"))
        except UnsafePath as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _one_kind(self) -> FileCheck:
        if (self.files_min is None) == (self.path is None):
            raise ValueError("a files check has either files_min (with an optional glob) or path")
        if self.path is not None and (self.exists is None or self.glob is not None):
            raise ValueError("a path check is {path: P, exists: true} (or exists: false)")
        if self.files_min is not None and self.exists is not None:
            raise ValueError("exists goes with path, not with files_min")
        return self

    @property
    def label(self) -> str:
        if self.path is not None:
            return f"{self.path} {'exists' if self.exists else 'is absent'}"
        return f"files matching {self.glob}" if self.glob else "files"

    def measure(self, top: Path) -> CheckResult:
        if self.path is not None:
            found = (top / self.path).exists()
            return CheckResult(self.label, float(found), None, found == self.exists)
        assert self.files_min is not None  # one of the two kinds (validated)
        pattern = self.glob or "**/*"
        count = sum(1 for p in top.glob(pattern) if p.is_file() and not p.is_symlink())
        return CheckResult(self.label, float(count), float(self.files_min), count >= self.files_min)


class DirectoryTarget(DrillTarget):
    """A scratch directory (``directory``: under which; default the system's temp dir)."""

    directory: str | None = None
    restores: ClassVar[str] = formats.TAR_GZ
    kind = FILES
    example = "{directory: SCRATCH_DIR} (or no target)"

    def drill(
        self, backup: Path, checks: Sequence[DrillCheck], ctx: RunContext
    ) -> list[CheckResult]:
        with tempfile.TemporaryDirectory(prefix="sexton-drill-", dir=self.directory) as scratch:
            top = extract(backup, Path(scratch))
            ctx.event("extracted", files=sum(1 for p in top.rglob("*") if p.is_file()))
            return [c.measure(top) for c in checks if isinstance(c, FileCheck)]


def extract(archive: Path, into: Path) -> Path:
    """Unpack a tar.gz safely (no absolute paths, no ``..``, no links leaving ``into``) and
    return the backed-up directory: the single top-level directory, else ``into`` itself."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(into, filter="data")
    except tarfile.FilterError as exc:
        raise TaskFailed(f"the archive holds an unsafe entry: {exc}") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise TaskFailed(f"the archive does not extract: {exc}") from None
    entries = list(into.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return into
