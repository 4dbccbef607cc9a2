"""Drilling MongoDB backups (``mongodump --archive --gzip``): ``mongorestore`` into scratch
databases on a server, count documents with ``mongosh``, drop the scratch databases.

Every restored namespace is renamed ``sexton_drill_<id>_<db>.<collection>``, so a drill never
touches the server's real databases. The server URL (with its password) travels in a private
config file for ``mongorestore`` and in the environment for ``mongosh``, never in argv.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator

from ..tasks.base import RunContext, TaskFailed
from . import formats
from .drill import DRILL_DATABASE_PREFIX, MONGO, CheckResult, DrillCheck, DrillTarget
from .process import stream_stdout
from .sources import mongo_config, tool_env

TOOLS = ("mongorestore", "mongosh")
COLLECTION = re.compile(r"[^.$\s/\\]+\.[^$\s]+")  # db.collection, as mongodump names them

# mongosh scripts; names and the URL come from the environment, never spliced into code.
COUNT = (
    "const m = new Mongo(process.env.SEXTON_DRILL_URL);"
    "print(m.getDB(process.env.SEXTON_DRILL_DB)"
    ".getCollection(process.env.SEXTON_DRILL_COLLECTION).countDocuments({}))"
)
DROP = (
    "const m = new Mongo(process.env.SEXTON_DRILL_URL);"
    "m.getDBNames().filter(n => n.startsWith(process.env.SEXTON_DRILL_PREFIX))"
    ".forEach(n => m.getDB(n).dropDatabase())"
)


class CollectionCheck(DrillCheck):
    """``{collection: DB.COLLECTION, min_docs: N}``: documents restored in that collection."""

    kind = MONGO
    collection: str
    min_docs: int = Field(ge=0)

    @field_validator("collection")
    @classmethod
    def _name(cls, value: str) -> str:
        if not COLLECTION.fullmatch(value):
            raise ValueError(f"{value!r} is not a collection name (expected db.collection)")
        return value

    @property
    def label(self) -> str:
        return f"documents in {self.collection}"


class MongoTarget(DrillTarget):
    """A MongoDB server where scratch databases are restored, counted and dropped."""

    mongodb: str
    restores: ClassVar[str] = formats.MONGO_ARCHIVE
    kind = MONGO
    example = "{mongodb: SERVER_URL}"

    def unavailable(self) -> str | None:
        missing = [tool for tool in TOOLS if shutil.which(tool) is None]
        if not missing:
            return None
        return (
            f"{' and '.join(missing)} not installed on this worker, so MongoDB backups cannot "
            "be drilled here: install the MongoDB database tools and mongosh, or give the "
            "drill runs_on a tag of a worker that has them"
        )

    def drill(
        self, backup: Path, checks: Sequence[DrillCheck], ctx: RunContext
    ) -> list[CheckResult]:
        prefix = f"{DRILL_DATABASE_PREFIX}{uuid.uuid4().hex[:12]}_"
        with mongo_config(self.mongodb) as config:
            argv = [
                "mongorestore",
                f"--config={config}",
                f"--archive={backup}",
                "--gzip",
                "--nsFrom=$db$.$coll$",
                f"--nsTo={prefix}$db$.$coll$",
            ]
            try:
                stream_stdout(argv, tool_env(ctx, {}), _Text(), ctx)
                return [
                    self._count(c, prefix, ctx) for c in checks if isinstance(c, CollectionCheck)
                ]
            finally:
                self._mongosh(DROP, {"SEXTON_DRILL_PREFIX": prefix}, ctx)

    def _count(self, check: CollectionCheck, prefix: str, ctx: RunContext) -> CheckResult:
        database, _, collection = check.collection.partition(".")
        names = {"SEXTON_DRILL_DB": prefix + database, "SEXTON_DRILL_COLLECTION": collection}
        try:
            value = float(self._mongosh(COUNT, names, ctx).strip().splitlines()[-1])
        except (TaskFailed, ValueError, IndexError) as exc:
            return CheckResult(check.label, None, float(check.min_docs), False, str(exc))
        return CheckResult(check.label, value, float(check.min_docs), value >= check.min_docs)

    def _mongosh(self, script: str, names: dict[str, str], ctx: RunContext) -> str:
        out = _Text()
        env = tool_env(ctx, {"SEXTON_DRILL_URL": self.mongodb, **names})
        stream_stdout(["mongosh", "--nodb", "--quiet", "--eval", script], env, out, ctx)
        return out.text()


class _Text:
    """A tool's stdout, kept to read a number from it."""

    def __init__(self) -> None:
        self._data = bytearray()

    def write(self, data: bytes, /) -> None:
        self._data += data

    def text(self) -> str:
        return self._data.decode("utf-8", "replace")
