"""Any command: an argv list, or a string run by the shell with ``shell: true``."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import IO, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from ..catalog import NeededFile, UnknownStore, quarantine_mark
from ..config.models import StoreName
from ..stores import Store
from ..stores.local import LocalStore
from .base import RunContext, Task, TaskFailed, TaskInterrupted, TaskParams, TaskTimedOut

POLL_SECONDS = 0.05  # how often a running command is checked for stop requests and deadlines

# Placeholders a `for_each_file` command may use: a file listing the batch's paths one per
# line, and the paths themselves as separate arguments.
PATHS_FILE = "{paths_file}"
PATHS = "{paths}"
NAMED_IN_ERROR = 5  # quarantined files named in a run's error; the rest are counted


class ForEachFile(TaskParams):
    """Run the command once per batch of files on ``store`` that lack mark ``needs``."""

    store: StoreName
    needs: str
    value: str | None = None  # the mark's value; files with the mark but another value need it
    batch: int = Field(100, ge=1)
    order: Literal["newest", "oldest"] = "newest"


def _argv_words(value: Any) -> Any:
    """YAML reads ``[sleep, 30]`` with a number in it: fine. A bare ``true`` is a boolean in
    YAML, not the program — say so instead of guessing."""
    if not isinstance(value, list):
        return value
    words = []
    for word in value:
        if isinstance(word, bool):
            raise ValueError(f'{word!r} in a command list is a YAML boolean: quote it, e.g. "true"')
        words.append(str(word) if isinstance(word, int | float) else word)
    return words


class CommandTask(Task):
    type = "command"

    class Params(TaskParams):
        command: Annotated[list[str], BeforeValidator(_argv_words)] | str
        shell: bool = False
        cwd: str | None = None
        env: dict[str, str] = {}
        for_each_file: ForEachFile | None = None

        @model_validator(mode="after")
        def _not_empty(self) -> CommandTask.Params:
            if not self.command or (isinstance(self.command, str) and not self.command.strip()):
                raise ValueError("command must not be empty")
            argv = self.argv()
            uses = any(PATHS_FILE in part or PATHS in part for part in argv)
            if uses and self.for_each_file is None:
                raise ValueError(f"{PATHS_FILE} and {PATHS} need for_each_file")
            if any(PATHS in part and part != PATHS for part in argv):
                raise ValueError(
                    f"{PATHS} must be a whole argument of its own (use {PATHS_FILE} in a "
                    "shell command)"
                )
            return self

        def argv(self) -> list[str]:
            if isinstance(self.command, list):
                return [str(part) for part in self.command]
            return ["/bin/sh", "-c", self.command] if self.shell else shlex.split(self.command)

    def run(self, ctx: RunContext) -> None:
        params: CommandTask.Params = ctx.params
        if params.for_each_file is None:
            run_command(params.argv(), ctx)
        else:
            for_each_batch(params.argv(), params.for_each_file, ctx)


def for_each_batch(argv: list[str], each: ForEachFile, ctx: RunContext) -> None:
    """Run the command per batch of files needing the mark; mark a file only on exit 0.

    A failed batch is retried file by file, so one bad file does not hold back the rest. A file
    that fails alone is quarantined (``MARK:failed``) once the command has worked for another
    file in this run: a command that fails for every file is broken itself (an index server
    down), and quarantining everything would hide that. The run then fails, naming the files;
    unquarantined failures are retried by the next run. Stops between batches when asked to.
    """
    try:
        store = ctx.stores[each.store]
    except UnknownStore as exc:
        raise TaskFailed(str(exc)) from None
    mark, value = each.needs, each.value or ""
    batches = _Batches(argv, store, ctx)
    while True:
        # Files that failed alone still need the mark until quarantined: look past them.
        limit = each.batch + len(batches.failed)
        found = ctx.catalog.needs(mark, each.value, each.store, limit=limit, order=each.order)
        batch = [n for n in found if n.file.id not in batches.failed][: each.batch]
        if not batch:
            break
        if ctx.should_stop():
            raise TaskInterrupted(f"stopped between batches; files still needing {mark!r} remain")
        done = [batch] if batches.succeeds(batch) else batches.one_by_one(batch)
        for files in done:
            ctx.catalog.mark([n.file.id for n in files], mark, value)
            ctx.progress(items=len(files), bytes=sum(n.file.size for n in files))
        if batches.failed and batches.worked:
            names = [n.file.name for n in batches.failed.values()]
            ctx.catalog.mark(list(batches.failed), quarantine_mark(mark), value)
            ctx.event("quarantined", mark=mark, files=names)
            batches.quarantined += names
            batches.failed.clear()
    if batches.quarantined or batches.failed:
        raise TaskFailed(batches.outcome(mark))


class _Batches:
    """Runs the command on batches of files and remembers which files it failed on alone."""

    def __init__(self, argv: list[str], store: Store, ctx: RunContext) -> None:
        self.argv, self.store, self.ctx = argv, store, ctx
        self.failed: dict[int, NeededFile] = {}  # failed alone, not yet quarantined
        self.quarantined: list[str] = []
        self.worked = False  # the command exited 0 for some batch in this run
        self.last_error = ""

    def succeeds(self, batch: list[NeededFile]) -> bool:
        """Run the command on ``batch``; True if it exited 0."""
        paths = [_path_on(self.store, needed) for needed in batch]
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", errors="surrogateescape", prefix="sexton-paths-", suffix=".txt"
        ) as listing:
            listing.write("".join(f"{p}\n" for p in paths))
            listing.flush()
            try:
                run_command(_substitute(self.argv, listing.name, paths), self.ctx)
            except TaskTimedOut:  # the run is over, not the batch
                raise
            except TaskFailed as exc:
                self.last_error = str(exc)
                return False
        self.worked = True
        return True

    def one_by_one(self, batch: list[NeededFile]) -> list[list[NeededFile]]:
        """Retry a failed batch a file at a time; the files it succeeded on, each alone."""
        if len(batch) > 1:
            self.ctx.event("batch failed", files=len(batch), error=self.last_error)
        done = []
        for needed in batch:
            if self.ctx.should_stop():
                break
            if len(batch) > 1 and self.succeeds([needed]):
                done.append([needed])
            else:
                self.failed[needed.file.id] = needed
        return done

    def outcome(self, mark: str) -> str:
        """Why the run failed: files quarantined, or a command that failed for every file."""
        if not self.quarantined:
            return f"{self.last_error} for every file tried; nothing was quarantined"
        shown = ", ".join(self.quarantined[:NAMED_IN_ERROR])
        more = len(self.quarantined) - NAMED_IN_ERROR
        return (
            f"{len(self.quarantined)} {'file' if len(self.quarantined) == 1 else 'files'} "
            f"quarantined as {quarantine_mark(mark)} "
            f"({self.last_error}): {shown}"
            + (f" and {more} more" if more > 0 else "")
            + f"; list them with `sexton catalog needs --failed {mark}`, release one with "
            f"`sexton catalog unmark NAME {quarantine_mark(mark)}`"
        )


def _path_on(store: Store, needed: NeededFile) -> str:
    """What the command is given: a local path, or the file's URL on other stores."""
    path = store.path(needed.path)
    return path if isinstance(store, LocalStore) else store.fs.unstrip_protocol(path)


def _substitute(argv: Sequence[str], paths_file: str, paths: list[str]) -> list[str]:
    substituted: list[str] = []
    for part in argv:
        if part == PATHS:
            substituted += paths
        else:
            substituted.append(part.replace(PATHS_FILE, paths_file))
    return substituted


def run_command(argv: list[str], ctx: RunContext) -> None:
    """Run one command to its end; raise unless it exits 0."""
    params: CommandTask.Params = ctx.params
    environment = {**os.environ, **ctx.env, **params.env}
    try:
        process = subprocess.Popen(
            argv,
            cwd=params.cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so we can end the whole tree
        )
    except OSError as exc:
        raise TaskFailed(f"cannot start {argv[0]!r}: {exc.strerror}") from None
    reader = threading.Thread(target=_copy_output, args=(process.stdout, ctx), daemon=True)
    reader.start()
    stop_requested = False
    while process.poll() is None:
        deadline = ctx.hard_deadline()
        if deadline is not None and ctx.now() >= deadline:
            end_process_group(process, ctx.kill_grace)
            reader.join(1)
            raise TaskTimedOut("killed at its hard timeout")
        if ctx.should_stop() and not stop_requested:
            stop_requested = True
            threading.Thread(
                target=end_process_group, args=(process, ctx.kill_grace), daemon=True
            ).start()
        time.sleep(POLL_SECONDS)
    reader.join(1)
    ctx.exit_code = process.returncode
    if stop_requested:
        raise TaskInterrupted(f"ended on request (exit status {process.returncode})")
    if process.returncode != 0:
        raise TaskFailed(f"exit code {process.returncode}")


def _copy_output(stream: IO[bytes] | None, ctx: RunContext) -> None:
    if stream is None:
        return
    for line in iter(stream.readline, b""):
        ctx.output(line.decode("utf-8", "replace").rstrip("\n"))


def end_process_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the command's whole process group, then SIGKILL whatever is left after
    ``grace`` seconds — children that ignore SIGTERM included."""
    group = process.pid
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        process.poll()
        if not _group_alive(group):
            return
        time.sleep(POLL_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    process.wait()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
