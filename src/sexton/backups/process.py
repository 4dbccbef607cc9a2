"""Backup tools as subprocesses: their stdout streamed into a store, or a store object
streamed into their stdin, ended with their whole process group when the run must stop."""

from __future__ import annotations

import subprocess
import tempfile
import threading
from collections.abc import Mapping
from contextlib import suppress
from typing import IO, Protocol

from ..checksums import CHUNK_SIZE
from ..tasks.base import RunContext, TaskFailed, TaskInterrupted, TaskTimedOut
from ..tasks.command import POLL_SECONDS, end_process_group

STDERR_CHARS = 2000  # what a failing tool's stderr contributes to the run's error


class Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


def stream_stdout(argv: list[str], env: Mapping[str, str], sink: Sink, ctx: RunContext) -> None:
    """Run ``argv`` and copy its stdout into ``sink``; raise unless it exits 0.

    Secrets travel in ``env`` only: ``argv`` may be shown in errors.
    """
    with tempfile.TemporaryFile() as stderr:
        try:
            process = subprocess.Popen(
                argv,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,  # its own process group, so the whole tree can end
            )
        except OSError as exc:
            raise TaskFailed(f"cannot start {argv[0]!r}: {exc.strerror}") from None
        watcher = _Watcher(process, ctx)
        watcher.start()
        assert process.stdout is not None
        try:
            while chunk := process.stdout.read(CHUNK_SIZE):
                sink.write(chunk)
            process.wait()
        except BaseException:  # the sink failed (store full, ...): the tool must not linger
            end_process_group(process, ctx.kill_grace)
            raise
        finally:
            watcher.done.set()
            watcher.join()
        if watcher.timed_out:
            raise TaskTimedOut(f"{argv[0]} killed at the hard timeout")
        if watcher.stopped:
            raise TaskInterrupted(f"{argv[0]} ended on request")
        if process.returncode != 0:
            raise TaskFailed(f"{argv[0]} exited with {process.returncode}: {_tail(stderr)}")


class _Watcher(threading.Thread):
    """Ends the tool when the run must stop, even while it writes nothing."""

    def __init__(self, process: subprocess.Popen[bytes], ctx: RunContext) -> None:
        super().__init__(daemon=True, name=f"watch-{process.pid}")
        self.process = process
        self.ctx = ctx
        self.done = threading.Event()
        self.stopped = False
        self.timed_out = False

    def run(self) -> None:
        while not self.done.wait(POLL_SECONDS):
            deadline = self.ctx.hard_deadline()
            self.timed_out = deadline is not None and self.ctx.now() >= deadline
            if self.timed_out or self.ctx.should_stop():
                self.stopped = True
                end_process_group(self.process, self.ctx.kill_grace)
                return


class PipeCheck:
    """A checking tool (``tar -tzf -``, ``pg_restore --list``) fed a backup on its stdin."""

    def __init__(self, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        self.argv = argv
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by finish() or abort()
        try:
            self._process = subprocess.Popen(
                argv,
                env=None if env is None else dict(env),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
            )
        except OSError as exc:
            self._stderr.close()
            raise TaskFailed(f"cannot start {argv[0]!r}: {exc.strerror}") from None
        self._closed = False  # the tool stopped reading (it may need only the start)

    def write(self, data: bytes) -> None:
        if self._closed:
            return
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(data)
        except BrokenPipeError:
            self._closed = True

    def finish(self) -> str | None:
        """Wait for the tool; None if it found the input sound, else what it said."""
        assert self._process.stdin is not None
        with suppress(BrokenPipeError):
            self._process.stdin.close()
        code = self._process.wait()
        try:
            if code == 0:
                return None
            return f"{self.argv[0]} exited with {code}: {_tail(self._stderr)}"
        finally:
            self._stderr.close()

    def abort(self) -> None:
        """Stop the tool when the check is abandoned half way."""
        self._process.kill()
        self._process.wait()
        self._stderr.close()


def _tail(stream: IO[bytes]) -> str:
    stream.seek(0)
    text = stream.read().decode("utf-8", "replace").strip()
    return text[-STDERR_CHARS:] or "(no message)"
