"""Stores on an SSH server, through sshfs (asyncssh): ``sftp://user@host:port/path``.

Connection options (``client_keys``, ``password``, ``known_hosts``, ...) go in the store's
``options`` and reach ``asyncssh.connect`` unchanged.
"""

from __future__ import annotations

from contextlib import suppress
from typing import BinaryIO

from sexton.stores.store import Store


class SftpStore(Store):
    """Writes to a temporary name and renames (posix-rename@openssh.com), like any Store."""

    def _sync(self, file: BinaryIO) -> None:
        from asyncssh import SFTPOpUnsupported  # optional dependency, present with sshfs

        # A server without fsync@openssh.com still gets an atomic rename, only less durability.
        with suppress(SFTPOpUnsupported):
            file.fsync()  # type: ignore[attr-defined]  # sshfs's SSHFile
