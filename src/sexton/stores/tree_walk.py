"""Listing a directory tree in a child process, so the walk has a core of its own.

A walk of a million files is a million ``stat`` calls and Python between them. In the
process that writes the catalog, it either waits for the writes or, in a thread, fights
them for the GIL at every system call (a rescan took a quarter longer that way). Here the
walk runs in ``python -I -S`` on this file, which imports nothing but the standard library,
and hands over ``(name, size, mtime)`` tuples in ``marshal`` frames: exact floats and any
name, including newlines and undecodable bytes (kept as surrogates), at little cost.
"""

from __future__ import annotations

import fcntl
import marshal
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import suppress
from operator import itemgetter
from typing import IO, BinaryIO

# Entries per frame: large enough that a frame costs little, small enough to stream.
FRAME = 2000

# Files of one directory held to be sorted before they are sent on: a directory of millions
# is sent as sorted runs of this many.
SORTED_RUN = 50_000

# A pipe this large (Linux's default limit for one) holds tens of thousands of entries.
PIPE_SIZE = 1024 * 1024
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # named in Python 3.10+, Linux only

Entry = tuple[str, int, float]
# Each frame is sent with its length first: ``marshal.load`` on a pipe would read it item by
# item, a method call per name.
_LENGTH = struct.Struct("<I")


def walk_tree(top: str, relative: str, skip_prefix: str, deep: bool = True) -> Iterator[Entry]:
    """Every regular file under ``top`` (directly in it, unless ``deep``) as
    ``(relative + path, size, mtime)``; names starting with ``skip_prefix`` (unfinished
    writes) are left out.

    Depth-first with an explicit stack of directories still to visit: memory grows with the
    number of pending directories and ``SORTED_RUN``, never with the number of files. Each
    directory is listed through an open descriptor, so its files are stat'ed relative to it
    (fstatat) instead of through their whole path: a sixth off a million-file walk.

    A directory's files come in name order, before its subdirectories, which are visited in
    name order: the listing is nearly sorted, so a first scan's inserts land at the end of
    the catalog's name indexes, as a set-based load's do, not all over them. A listing so
    sorted took a first scan of 200,000 files on PostgreSQL from 9.7 s to 8.6 s, and its
    indexes from 49 to 37 MB (bench/RESULTS.md, "Scan").
    """
    stack = [(top, relative)]
    while stack:
        directory, prefix = stack.pop()
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError):
            continue  # a prefix that does not exist, or a directory removed meanwhile
        subdirectories: list[str] = []
        files: list[Entry] = []
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    name = entry.name
                    if entry.is_dir(follow_symlinks=False):
                        if deep:
                            subdirectories.append(name)
                    elif entry.is_file() and not name.startswith(skip_prefix):
                        try:
                            st = entry.stat()
                        except FileNotFoundError:
                            continue  # deleted between listing and stat
                        files.append((prefix + name, st.st_size, st.st_mtime))
                        if len(files) == SORTED_RUN:  # a huge directory: sorted in runs
                            yield from _sorted(files)
                            files = []
        finally:
            os.close(fd)
        yield from _sorted(files)
        subdirectories.sort(reverse=True)  # the stack pops the first name first
        stack.extend((f"{directory}/{name}", f"{prefix}{name}/") for name in subdirectories)


def _sorted(files: list[Entry]) -> list[Entry]:
    return sorted(files, key=itemgetter(0))


def walk_in_child(top: str, relative: str, skip_prefix: str, deep: bool = True) -> Iterator[Entry]:
    """``walk_tree`` run by a child process; the same entries, in the same order.

    A consumer that stops early kills the child. A child that fails raises ``OSError`` with
    its last line of error output.
    """
    child = subprocess.Popen(
        [sys.executable, "-I", "-S", __file__, top, relative, skip_prefix, "deep" if deep else ""],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    with suppress(OSError):  # the walk runs ahead by this much while the reader writes
        fcntl.fcntl(child.stdout.fileno(), F_SETPIPE_SZ, PIPE_SIZE)
    try:
        yield from _received(child.stdout)
        error = child.stderr.read().decode(errors="replace").strip()
        if child.wait() != 0:
            last = error.splitlines()[-1] if error else f"exit status {child.returncode}"
            raise OSError(f"listing {top} failed: {last}")
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()
        child.stderr.close()


def _received(pipe: IO[bytes]) -> Iterator[Entry]:
    """The entries of each whole frame on ``pipe``, until it ends (a cut frame ends it too:
    the child's exit status tells why)."""
    while len(header := pipe.read(_LENGTH.size)) == _LENGTH.size:
        (length,) = _LENGTH.unpack(header)
        data = pipe.read(length)
        if len(data) < length:
            return
        yield from marshal.loads(data)


def _main(top: str, relative: str, skip_prefix: str, deep: str) -> None:
    out = sys.stdout.buffer
    frame: list[Entry] = []
    for entry in walk_tree(top, relative, skip_prefix, bool(deep)):
        frame.append(entry)
        if len(frame) >= FRAME:
            _send(out, frame)
            frame = []
    if frame:
        _send(out, frame)
    out.flush()


def _send(out: BinaryIO, frame: list[Entry]) -> None:
    data = marshal.dumps(frame)
    out.write(_LENGTH.pack(len(data)))
    out.write(data)


if __name__ == "__main__":
    _main(*sys.argv[1:5])
