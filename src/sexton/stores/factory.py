"""Turning a configured store (name + settings) into a ``Store`` of the right kind."""

from __future__ import annotations

import fsspec
from fsspec.implementations.local import LocalFileSystem

from sexton.stores.errors import StoreError
from sexton.stores.local import LocalStore
from sexton.stores.s3 import S3Store
from sexton.stores.settings import (
    LOCAL_PROTOCOLS,
    StoreSettings,
    check_store_url,
    store_protocol,
)
from sexton.stores.sftp import SftpStore
from sexton.stores.store import Store

_S3_PROTOCOLS = frozenset({"s3", "s3a"})
_SFTP_PROTOCOLS = frozenset({"sftp", "ssh"})


def open_store(name: str, settings: StoreSettings) -> Store:
    """Connect to a store. Raises ``StoreError`` if its URL cannot work on this host."""
    error = check_store_url(settings.url)
    if error is not None:
        raise StoreError(f"store {name}: {error}")
    protocol = store_protocol(settings.url)
    if protocol in LOCAL_PROTOCOLS:
        root = LocalFileSystem._strip_protocol(settings.url)
        return LocalStore(name, settings, LocalFileSystem(), root)
    cls = _filesystem_class(protocol)
    root = cls._strip_protocol(settings.url)
    options = {**cls._get_kwargs_from_urls(settings.url), **settings.options}
    fs = cls(**options)
    if protocol in _S3_PROTOCOLS:
        return S3Store(name, settings, fs, root)
    if protocol in _SFTP_PROTOCOLS:
        return SftpStore(name, settings, fs, root)
    return Store(name, settings, fs, root)


def _filesystem_class(protocol: str) -> type[fsspec.AbstractFileSystem]:
    if protocol in _SFTP_PROTOCOLS:
        # fsspec's built-in "sftp" is paramiko-based; sshfs (asyncssh) is the one we support.
        from sshfs import SSHFileSystem  # optional dependency: imported only when used

        sshfs_cls: type[fsspec.AbstractFileSystem] = SSHFileSystem
        return sshfs_cls
    cls: type[fsspec.AbstractFileSystem] = fsspec.get_filesystem_class(protocol)
    return cls
