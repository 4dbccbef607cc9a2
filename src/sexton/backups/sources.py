"""What a `backup` task backs up, and how each source streams its backup into a store.

Each source is a small model keyed by its kind (``{sqlite: PATH}``, ``{postgres: URL}``, ...)
with the file extension it produces and one method writing the backup into a sink (the
store's writer, which hashes as it writes). Only the SQLite backup API needs a local file
first: it writes a database, not a stream.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Discriminator, Field, Tag
from sqlalchemy.engine import URL, make_url

from ..checksums import CHUNK_SIZE
from ..tasks.base import RunContext, TaskFailed, TaskInterrupted, TaskParams
from . import formats
from .process import Sink, stream_stdout


class BackupSource(TaskParams):
    format: ClassVar[str]
    ext: ClassVar[str]

    def extension(self) -> str:
        return self.ext

    def write_to(self, sink: Sink, ctx: RunContext) -> None:
        raise NotImplementedError


class SqliteSource(BackupSource):
    """A SQLite database, copied with the online backup API: consistent while in use."""

    sqlite: str
    format = formats.SQLITE
    ext = "sqlite"

    def write_to(self, sink: Sink, ctx: RunContext) -> None:
        path = Path(self.sqlite)
        if not path.is_file():
            raise TaskFailed(f"no SQLite database at {path}")
        with tempfile.TemporaryDirectory(prefix="sexton-backup-") as scratch:
            copy = Path(scratch) / "backup.sqlite"
            # mode=rw: never create an empty database where the real one is missing.
            source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True)
            target = sqlite3.connect(copy)
            try:
                # One step (pages=-1): a single read transaction, so the copy is one
                # consistent snapshot even while other connections keep writing (WAL).
                source.backup(target)
            except sqlite3.Error as exc:
                raise TaskFailed(f"SQLite backup of {path} failed: {exc}") from None
            finally:
                target.close()
                source.close()
            with copy.open("rb") as f:
                while chunk := f.read(CHUNK_SIZE):
                    sink.write(chunk)


def credentials_apart(url: str, password_variable: str) -> tuple[str, dict[str, str]]:
    """Split a database URL's password into an environment variable, so the URL can go on a
    command line (visible in ``ps``) without the secret."""
    parsed = make_url(url)
    if parsed.password is None:
        return url, {}
    # `URL.set(password=None)` means "unchanged": build the URL anew without it.
    bare = URL.create(
        parsed.drivername,
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    ).render_as_string(hide_password=False)
    return bare, {password_variable: str(parsed.password)}


def tool_env(ctx: RunContext, extra: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, **ctx.env, **extra}


class PostgresSource(BackupSource):
    """``pg_dump --format=custom``; the password goes in ``PGPASSWORD``, never in argv."""

    postgres: str
    args: list[str] = []  # more pg_dump options, e.g. ["--schema=public"]
    format = formats.PG_CUSTOM
    ext = "dump"

    def command(self) -> tuple[list[str], dict[str, str]]:
        url, secret = credentials_apart(self.postgres, "PGPASSWORD")
        argv = ["pg_dump", "--format=custom", "--no-password", *self.args, f"--dbname={url}"]
        return argv, secret

    def write_to(self, sink: Sink, ctx: RunContext) -> None:
        argv, secret = self.command()
        stream_stdout(argv, tool_env(ctx, secret), sink, ctx)


class MongoSource(BackupSource):
    """``mongodump --archive --gzip``; the URL (with its password) goes in a private config
    file, never in argv."""

    mongodb: str
    args: list[str] = []
    format = formats.MONGO_ARCHIVE
    ext = "archive.gz"

    def write_to(self, sink: Sink, ctx: RunContext) -> None:
        if shutil.which("mongodump") is None:
            raise TaskFailed("mongodump is not installed on this worker")
        with mongo_config(self.mongodb) as config:
            argv = ["mongodump", f"--config={config}", "--archive", "--gzip", *self.args]
            stream_stdout(argv, tool_env(ctx, {}), sink, ctx)


@contextmanager
def mongo_config(url: str) -> Iterator[str]:
    """A private config file giving the MongoDB tools ``url`` (``--config=PATH``), so the
    password never shows in argv."""
    with tempfile.NamedTemporaryFile("w", prefix="sexton-mongo-", suffix=".yaml") as config:
        os.chmod(config.name, 0o600)
        config.write(f"uri: {json.dumps(url)}\n")  # a JSON string is a quoted YAML scalar
        config.flush()
        yield config.name


class CommandSource(BackupSource):
    """Any command whose stdout is the backup; Sexton checks only its size and checksum."""

    command: Annotated[list[str], Field(min_length=1)]
    suffix: str = "bin"  # the file extension of what it writes
    format = formats.OPAQUE

    def extension(self) -> str:
        return self.suffix

    def write_to(self, sink: Sink, ctx: RunContext) -> None:
        stream_stdout(self.command, tool_env(ctx, {}), sink, ctx)


class PathSource(BackupSource):
    """A directory as a tar.gz, streamed: no archive on local disk."""

    path: str
    format = formats.TAR_GZ
    ext = "tar.gz"

    def write_to(self, sink: Sink, ctx: RunContext) -> None:
        top = Path(self.path)
        if not top.is_dir():
            raise TaskFailed(f"no directory at {top}")

        def checked(member: tarfile.TarInfo) -> tarfile.TarInfo:
            if ctx.should_stop():
                raise TaskInterrupted(f"stopped while archiving {top}")
            return member

        with tarfile.open(fileobj=sink, mode="w|gz") as archive:  # type: ignore[call-overload]
            archive.add(top, arcname=top.name or ".", filter=checked)


# The key a source mapping uses names its kind.
KINDS: dict[str, type[BackupSource]] = {
    "sqlite": SqliteSource,
    "postgres": PostgresSource,
    "mongodb": MongoSource,
    "command": CommandSource,
    "path": PathSource,
}


def _kind(value: Any) -> str | None:
    if isinstance(value, BackupSource):
        return next(k for k, cls in KINDS.items() if isinstance(value, cls))
    if isinstance(value, dict):
        return next((k for k in KINDS if k in value), None)
    return None


Source = Annotated[
    Annotated[SqliteSource, Tag("sqlite")]
    | Annotated[PostgresSource, Tag("postgres")]
    | Annotated[MongoSource, Tag("mongodb")]
    | Annotated[CommandSource, Tag("command")]
    | Annotated[PathSource, Tag("path")],
    Discriminator(
        _kind,
        custom_error_type="source_kind",
        custom_error_message=f"expected a mapping with one of the keys {', '.join(KINDS)}",
    ),
]
