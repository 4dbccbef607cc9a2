"""Restore drills: fetch a backup, prove its checksum, restore it into a scratch database,
count what should be there, and always clean up.

What the monthly hand-run restore test did (download a random backup, restore it in a
throwaway container, run a few counts, note it in a sheet), as code.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import psycopg
from psycopg import sql
from pydantic import Field, field_validator, model_validator
from sqlalchemy.engine import make_url

from ..checksums import CHUNK_SIZE, Checksum, MultiHasher
from ..stores import Store
from ..tasks.base import RunContext, TaskFailed, TaskParams
from . import formats
from .process import stream_stdout
from .sources import credentials_apart, tool_env
from .verify import sqlite_integrity

# A table name as a check may give it: `table` or `schema.table`, nothing to inject.
TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
DRILL_DATABASE_PREFIX = "sexton_drill_"  # so a stray scratch database is recognisable


# What a check looks at, and so which targets it can run on.
DATABASE = "database"  # a restored SQL database: a cursor
FILES = "files"  # an extracted directory tree
MONGO = "mongo"  # a MongoDB restored into scratch databases


class DrillCheck(TaskParams):
    """One thing a drill measures in what it restored."""

    kind: ClassVar[str]

    @property
    def label(self) -> str:
        raise NotImplementedError


class Check(DrillCheck):
    """``{table: T, min_rows: N}`` or ``{query: SQL, min: N}`` (a query returning a number)."""

    kind = DATABASE
    table: str | None = None
    min_rows: int | None = Field(None, ge=0)
    query: str | None = None
    min: float | None = None

    @field_validator("table")
    @classmethod
    def _table_name(cls, value: str | None) -> str | None:
        if value is not None and not TABLE_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a table name (expected table or schema.table)")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Check:
        if (self.table is None) == (self.query is None):
            raise ValueError("a check has either table (with min_rows) or query (with min)")
        if self.table is not None and self.min_rows is None:
            raise ValueError("a table check needs min_rows")
        if self.query is not None and self.min is None:
            raise ValueError("a query check needs min")
        if self.table is not None and self.min is not None:
            raise ValueError("a table check uses min_rows, not min")
        if self.query is not None and self.min_rows is not None:
            raise ValueError("a query check uses min, not min_rows")
        return self

    @property
    def label(self) -> str:
        return f"rows in {self.table}" if self.table is not None else str(self.query)

    @property
    def minimum(self) -> float:
        return float(self.min_rows if self.min_rows is not None else self.min or 0)

    def sql(self) -> str:
        if self.table is None:
            return str(self.query)
        quoted = ".".join(f'"{part}"' for part in self.table.split("."))
        return f"SELECT count(*) FROM {quoted}"


@dataclass(frozen=True)
class CheckResult:
    check: str
    value: float | None
    min: float | None  # None for checks that are not a threshold (``exists``)
    ok: bool
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Cursor(Protocol):
    def execute(self, query: Any, /) -> Any: ...
    def fetchone(self) -> Any: ...


def run_checks(cursor: Cursor, checks: Sequence[Check]) -> list[CheckResult]:
    """Each check's value, and whether it reaches its minimum; a failing query fails only
    its own check."""
    results = []
    for check in checks:
        try:
            cursor.execute(check.sql())
            row = cursor.fetchone()
            value = float(row[0])
        except Exception as exc:  # any driver error or a non-number is this check's failure
            results.append(CheckResult(check.label, None, check.minimum, False, str(exc)))
            continue
        results.append(CheckResult(check.label, value, check.minimum, value >= check.minimum))
    return results


def fetch(store: Store, name: str, size: int, checksum: Checksum, into: Path) -> None:
    """Copy a backup to a local file, failing when it is not what was recorded."""
    hasher = MultiHasher([checksum.algo])
    try:
        with store.open_read(name) as source, into.open("wb") as target:
            while chunk := source.read(CHUNK_SIZE):
                hasher.update(chunk)
                target.write(chunk)
    except FileNotFoundError:
        raise TaskFailed(f"backup {name} is missing from store {store.name}") from None
    actual = hasher.checksums()[checksum.algo]
    if hasher.size != size or actual != checksum:
        raise TaskFailed(
            f"backup {name} is damaged: {hasher.size} bytes with {actual} in the store, "
            f"{size} bytes with {checksum} recorded"
        )


class DrillTarget(TaskParams):
    """Where a drill restores a backup: which format it restores and which checks it runs."""

    restores: ClassVar[str]  # the backup format (``formats``)
    kind: ClassVar[str]  # the checks it can run (``DrillCheck.kind``)
    example: ClassVar[str]  # how a config gives such a target, for error messages

    def unavailable(self) -> str | None:
        """Why this worker cannot drill into this target (a missing tool), else None."""
        return None

    def drill(
        self, backup: Path, checks: Sequence[DrillCheck], ctx: RunContext
    ) -> list[CheckResult]:
        """Restore the local copy ``backup``, run the checks, clean up whatever happens."""
        raise NotImplementedError


class DatabaseTarget(DrillTarget):
    """A SQL database restored for the drill, checked through a cursor."""

    kind = DATABASE
    example = "{sqlite: SCRATCH_FILE} or {postgres: SERVER_URL}"

    def drill(
        self, backup: Path, checks: Sequence[DrillCheck], ctx: RunContext
    ) -> list[CheckResult]:
        with self.restored(backup, ctx) as cursor:
            return run_checks(cursor, [c for c in checks if isinstance(c, Check)])

    def restored(self, backup: Path, ctx: RunContext) -> AbstractContextManager[Cursor]:
        raise NotImplementedError


class SqliteTarget(DatabaseTarget):
    """A scratch SQLite file: the backup is put there, checked and removed."""

    sqlite: str
    restores: ClassVar[str] = formats.SQLITE

    @contextmanager
    def restored(self, backup: Path, ctx: RunContext) -> Iterator[Cursor]:
        target = Path(self.sqlite)
        if target.exists():
            raise TaskFailed(f"scratch database {target} exists; refusing to overwrite it")
        try:
            shutil.move(backup, target)
            problem = sqlite_integrity(target)
            if problem is not None:
                raise TaskFailed(f"restored database is damaged: {problem}")
            connection = sqlite3.connect(target)
            try:
                yield connection.cursor()
            finally:
                connection.close()
        finally:
            for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
                leftover.unlink(missing_ok=True)


class PostgresTarget(DatabaseTarget):
    """A PostgreSQL server: a scratch database is created, restored into, checked, dropped."""

    postgres: str
    restores: ClassVar[str] = formats.PG_CUSTOM

    @contextmanager
    def restored(self, backup: Path, ctx: RunContext) -> Iterator[Cursor]:
        server = make_url(self.postgres).set(drivername="postgresql")
        scratch = f"{DRILL_DATABASE_PREFIX}{uuid.uuid4().hex[:12]}"
        try:
            admin = psycopg.connect(server.render_as_string(hide_password=False), autocommit=True)
        except psycopg.Error as exc:
            raise TaskFailed(f"cannot reach the drill server {server}: {exc}") from None
        with admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
            try:
                scratch_url = server.set(database=scratch).render_as_string(hide_password=False)
                self._restore(backup, scratch_url, ctx)
                with psycopg.connect(scratch_url, autocommit=True) as connection:
                    yield connection.cursor()
            finally:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(scratch)
                    )
                )

    @staticmethod
    def _restore(backup: Path, url: str, ctx: RunContext) -> None:
        bare, secret = credentials_apart(url, "PGPASSWORD")
        argv = [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--no-password",
            f"--dbname={bare}",
            str(backup),
        ]
        stream_stdout(argv, tool_env(ctx, secret), _Discard(), ctx)


class _Discard:
    """pg_restore into a database prints nothing worth keeping on stdout."""

    def write(self, data: bytes, /) -> None:
        pass
