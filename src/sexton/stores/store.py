"""A named storage location reached through fsspec: list, read, write safely, delete.

``Store`` works on any fsspec filesystem that can rename (SFTP, HDFS, ...): a write goes to a
temporary name beside the final one and is renamed when complete. ``LocalStore`` and
``S3Store`` override the few steps where their backend offers something faster or safer.
"""

from __future__ import annotations

import errno
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import BinaryIO

import fsspec

from sexton.checksums import DEFAULT_ALGORITHM, Checksum, read_chunks
from sexton.sizes import format_size
from sexton.stores.entry import EntryInfo, mtime_of
from sexton.stores.errors import (
    AlreadyExists,
    ChecksumMismatch,
    StoreError,
    StoreFull,
    StoreReadOnly,
)
from sexton.stores.paths import TEMP_PREFIX, is_temp_name, safe_name
from sexton.stores.settings import StoreSettings
from sexton.stores.writer import StoreWriter

# errno values meaning "no room": a full device, or a user/group quota reached.
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


@dataclass
class PendingWrite:
    """A write in progress: the open file, where it is being written, and where it will go."""

    file: BinaryIO
    temp: str
    final: str
    overwrite: bool


class Store:
    """A store on any fsspec filesystem; ``root`` is the filesystem path of the store's top."""

    # Listing mostly waits on a network: a scan reads the listing ahead in a thread while it
    # writes to the catalog (see ``catalog.reconcile``).
    listing_waits = True

    def __init__(
        self, name: str, settings: StoreSettings, fs: fsspec.AbstractFileSystem, root: str
    ) -> None:
        self.name = name
        self.settings = settings
        self.fs = fs
        self.root = root.rstrip("/")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.settings.url}>"

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    @property
    def read_only(self) -> bool:
        return self.settings.read_only

    def path(self, name: str) -> str:
        """The backend path of a file name, after checking the name stays inside the store."""
        return f"{self.root}/{safe_name(name)}"

    # -- listing -------------------------------------------------------------------------

    def walk(
        self, prefixes: Sequence[str] | None = None, *, deep: bool = True
    ) -> Iterator[EntryInfo]:
        """Yield every file under the root (or under each prefix directory, "" being the
        root), in no set order; unless ``deep``, only the files directly in them.

        Unfinished writes are left out. A missing root raises ``StoreError`` rather than
        yielding nothing, so an unmounted drive never looks like a store whose files vanished.
        """
        self._check_root()
        for prefix in prefixes or [""]:
            relative = safe_name(prefix.rstrip("/")) if prefix else ""
            top = self.path(relative) if relative else self.root
            yield from self._walk_under(top, relative + "/" if relative else "", deep)

    def _walk_under(self, top: str, relative: str, deep: bool) -> Iterator[EntryInfo]:
        """Generic listing, one directory at a time (fsspec walks breadth-first per level)."""
        cut = len(top) + 1
        for _dir, _subdirs, files in self.fs.walk(top, maxdepth=None if deep else 1, detail=True):
            for info in files.values():
                if info.get("type") != "file" or is_temp_name(info["name"].rsplit("/", 1)[-1]):
                    continue
                name = relative + self.fs._strip_protocol(info["name"])[cut:]
                yield EntryInfo(name, int(info["size"]), mtime_of(info))

    def directories(self, directory: str) -> tuple[list[str], bool]:
        """The names (relative to the root) of the directories directly in ``directory``
        ("" for the root), and whether any file is directly in it; nothing if it is gone.
        A missing root raises ``StoreError``, as in ``walk``."""
        if not directory:
            self._check_root()
        return self._directories(directory)

    def _directories(self, directory: str) -> tuple[list[str], bool]:
        top = self.path(directory) if directory else self.root
        try:
            listing = self.fs.ls(top, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return [], False
        below = f"{directory}/" if directory else ""
        subdirs: list[str] = []
        has_files = False
        for info in listing:
            name = self.fs._strip_protocol(info["name"]).rstrip("/").rsplit("/", 1)[-1]
            if info.get("type") == "directory":
                subdirs.append(below + name)
            elif info.get("type") == "file" and not is_temp_name(name):
                has_files = True
        return sorted(subdirs), has_files

    def _check_root(self) -> None:
        if not self.fs.isdir(self.root):
            raise StoreError(
                f"store {self.name}: root {self.settings.url} is missing or not a directory"
            )

    def info(self, name: str) -> EntryInfo | None:
        """Size and mtime of one file, or None if there is no such file."""
        try:
            info = self.fs.info(self.path(name))
        except FileNotFoundError:
            return None
        if info.get("type") != "file":
            return None
        return EntryInfo(name, int(info["size"]), mtime_of(info))

    def exists(self, name: str) -> bool:
        return self.info(name) is not None

    # -- reading -------------------------------------------------------------------------

    def open_read(self, name: str) -> BinaryIO:
        """A streaming binary file; read it in large chunks (``checksums.CHUNK_SIZE``)."""
        f: BinaryIO = self.fs.open(self.path(name), "rb")
        return f

    # -- writing -------------------------------------------------------------------------

    @contextmanager
    def write(
        self,
        name: str,
        algos: Iterable[str] = (DEFAULT_ALGORITHM,),
        *,
        size: int | None = None,
        overwrite: bool = False,
    ) -> Iterator[StoreWriter]:
        """Write a file safely: to a temporary name, hashed as written, renamed on success.

        The final name appears only once everything is written and synced; an exception in
        the ``with`` block removes the temporary file and leaves the store as it was.
        ``size``, when known, is checked against the room left before anything is written.
        """
        self._check_writable("write")
        final = self.path(name)
        if not overwrite and self.exists(name):
            raise AlreadyExists(f"store {self.name}: {name!r} already exists")
        if size is not None and not self.has_room_for(size):
            usable = self.usable_space()
            room = "unknown" if usable is None else format_size(usable)
            raise StoreFull(
                f"store {self.name}: no room for {name!r} ({format_size(size)}; {room} usable)"
            )
        try:
            pending = self._begin_write(final, overwrite)
            try:
                writer = StoreWriter(name, pending.file, algos)
                yield writer
                self._commit_write(pending)
            except BaseException:
                self._abort_write(pending)
                raise
        except OSError as exc:
            if exc.errno in NO_SPACE_ERRNOS:
                raise StoreFull(f"store {self.name}: full while writing {name!r}: {exc}") from exc
            raise

    def write_from(
        self,
        name: str,
        fileobj: BinaryIO,
        algos: Iterable[str] = (DEFAULT_ALGORITHM,),
        expected: Checksum | None = None,
        *,
        size: int | None = None,
        overwrite: bool = False,
    ) -> StoreWriter:
        """Copy a file object into the store while hashing it.

        With ``expected``, a copy whose checksum differs is removed and ``ChecksumMismatch``
        raised: a bad copy never sits under the final name, not even for a moment.
        """
        wanted = [*algos, expected.algo] if expected is not None else list(algos)
        with self.write(name, wanted, size=size, overwrite=overwrite) as writer:
            for chunk in read_chunks(fileobj):
                writer.write(chunk)
            if expected is not None:
                actual = writer.checksums[expected.algo]
                if actual != expected:
                    raise ChecksumMismatch(name, expected, actual)
        return writer

    def _begin_write(self, final: str, overwrite: bool) -> PendingWrite:
        parent, _, _ = final.rpartition("/")
        self.fs.makedirs(parent, exist_ok=True)
        temp = f"{parent}/{TEMP_PREFIX}{uuid.uuid4().hex}"
        return PendingWrite(self.fs.open(temp, "wb"), temp, final, overwrite)

    def _commit_write(self, pending: PendingWrite) -> None:
        pending.file.flush()
        self._sync(pending.file)
        pending.file.close()
        if not pending.overwrite and self.fs.exists(pending.final):
            raise AlreadyExists(f"store {self.name}: {pending.final!r} appeared while writing")
        self.fs.mv(pending.temp, pending.final)

    def _sync(self, file: BinaryIO) -> None:
        """Push written data to stable storage before the rename, where the backend can."""

    def _abort_write(self, pending: PendingWrite) -> None:
        with suppress(Exception):  # never hide the error that made us abort
            pending.file.close()
        with suppress(FileNotFoundError):
            self.fs.rm_file(pending.temp)

    def _check_writable(self, action: str) -> None:
        if self.read_only:
            raise StoreReadOnly(f"store {self.name} is read-only: refusing to {action}")

    # -- deleting ------------------------------------------------------------------------

    def delete(self, name: str, *, missing_ok: bool = False) -> None:
        """Remove one file. Deciding *whether* a copy may go is the catalog's job, not this."""
        self._check_writable("delete")
        path = self.path(name)
        if not self.exists(name):
            if missing_ok:
                return
            raise FileNotFoundError(errno.ENOENT, f"store {self.name}: no file {name!r}")
        self.fs.rm_file(path)

    # -- leftovers ------------------------------------------------------------------------

    def remove_stale_temps(self, directories: Iterable[str], older_than: float) -> list[str]:
        """Remove the temporary files killed writers left in these directories (names
        relative to the root, "" for the root) unwritten since ``older_than`` (POSIX
        seconds); return their names. Listings skip such files, so nothing else would.

        Only the given directories are looked at (those a task is about to read or write
        in), never the whole store: a million-file store is not walked for a few leftovers.
        A read-only store is left as it is.
        """
        if self.read_only:
            return []
        removed: list[str] = []
        for directory in dict.fromkeys(directories):
            top = self.path(directory) if directory else self.root
            for path, mtime in self._temp_files(top):
                if mtime is None or mtime >= older_than:
                    continue
                with suppress(FileNotFoundError):  # its writer finished or gave up meanwhile
                    self.fs.rm_file(path)
                    removed.append(path[len(self.root) + 1 :])
        return removed

    def _temp_files(self, top: str) -> Iterator[tuple[str, float | None]]:
        """Backend path and mtime of each temporary file directly in directory ``top``."""
        try:
            listing = self.fs.ls(top, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return
        for info in listing:
            path = self.fs._strip_protocol(info["name"])
            if info.get("type") == "file" and is_temp_name(path.rsplit("/", 1)[-1]):
                yield path, mtime_of(info)

    # -- space ---------------------------------------------------------------------------

    def device_free(self) -> int | None:
        """Free bytes the backend reports; None where it cannot tell (object stores, SFTP)."""
        return None

    def device_total(self) -> int | None:
        """Total bytes of the backend device, where it can tell."""
        return None

    def total_space(self) -> int | None:
        """The store's size: ``capacity`` if configured, else the device's, else None."""
        if self.settings.capacity is not None:
            return self.settings.capacity
        return self.device_total()

    def free_space(self, used: int | None = None) -> int | None:
        """Free bytes: the device's free space, capped by ``capacity - used`` when both known.

        ``used`` is the bytes the store holds (from the catalog); only the caller knows it
        cheaply. None means the free space is unknown.
        """
        limits: list[int] = []
        device = self.device_free()
        if device is not None:
            limits.append(device)
        if self.settings.capacity is not None and used is not None:
            limits.append(max(0, self.settings.capacity - used))
        return min(limits) if limits else None

    def usable_space(self, used: int | None = None) -> int | None:
        """Free bytes minus the configured ``reserve``; None when the free space is unknown."""
        free = self.free_space(used)
        if free is None:
            return None
        # A known free space implies a known total (device or capacity), so a fractional
        # reserve always resolves here; `or 0` only satisfies the type.
        reserve = self.settings.reserve.bytes_of(self.total_space()) or 0
        return max(0, free - reserve)

    def has_room_for(self, nbytes: int, used: int | None = None) -> bool:
        """Whether ``nbytes`` more fit without eating into the reserve; unknown counts as yes."""
        usable = self.usable_space(used)
        return usable is None or nbytes <= usable
