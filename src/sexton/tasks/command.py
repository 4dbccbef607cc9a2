"""Any command: an argv list, or a string run by the shell with ``shell: true``."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
import time
from typing import IO, Annotated, Any

from pydantic import BeforeValidator, model_validator

from .base import RunContext, Task, TaskFailed, TaskInterrupted, TaskParams, TaskTimedOut

POLL_SECONDS = 0.05  # how often a running command is checked for stop requests and deadlines


def _argv_words(value: Any) -> Any:
    """YAML reads ``[sleep, 30]`` with a number in it: fine. A bare ``true`` is a boolean in
    YAML, not the program — say so instead of guessing."""
    if not isinstance(value, list):
        return value
    words = []
    for word in value:
        if isinstance(word, bool):
            raise ValueError(f"{word!r} in a command list is a YAML boolean: quote it, e.g. \"true\"")
        words.append(str(word) if isinstance(word, int | float) else word)
    return words


class CommandTask(Task):
    type = "command"

    class Params(TaskParams):
        command: Annotated[list[str], BeforeValidator(_argv_words)] | str
        shell: bool = False
        cwd: str | None = None
        env: dict[str, str] = {}

        @model_validator(mode="after")
        def _not_empty(self) -> CommandTask.Params:
            if not self.command or (isinstance(self.command, str) and not self.command.strip()):
                raise ValueError("command must not be empty")
            return self

        def argv(self) -> list[str]:
            if isinstance(self.command, list):
                return [str(part) for part in self.command]
            return ["/bin/sh", "-c", self.command] if self.shell else shlex.split(self.command)

    def run(self, ctx: RunContext) -> None:
        params: CommandTask.Params = ctx.params
        environment = {**os.environ, **ctx.env, **params.env}
        try:
            process = subprocess.Popen(
                params.argv(),
                cwd=params.cwd,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so we can end the whole tree
            )
        except OSError as exc:
            raise TaskFailed(f"cannot start {params.argv()[0]!r}: {exc.strerror}") from None
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
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
