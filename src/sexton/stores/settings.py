"""How a store is configured (``stores:`` in sexton.yaml) and whether its URL can work here."""

from __future__ import annotations

import difflib
import importlib.util
from typing import Any

import fsspec
from fsspec.core import split_protocol
from fsspec.registry import known_implementations, registry
from pydantic import BaseModel, ConfigDict, field_validator

from sexton.sizes import Reserve, ReserveSize, SizeBytes

LOCAL_PROTOCOLS = frozenset({"file", "local"})

# Protocols whose fsspec backend is an optional package: (module to import, how to get it).
OPTIONAL_BACKENDS: dict[str, tuple[str, str]] = {
    "s3": ("s3fs", "pip install 'sexton[s3]'"),
    "s3a": ("s3fs", "pip install 'sexton[s3]'"),
    "sftp": ("sshfs", "pip install 'sexton[sftp]'"),
    "ssh": ("sshfs", "pip install 'sexton[sftp]'"),
    "hdfs": ("pyarrow", "pip install pyarrow (and a Hadoop client with libhdfs)"),
}


class StoreSettings(BaseModel):
    """One entry under ``stores:``. ``options`` go unchanged to the fsspec filesystem."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    options: dict[str, Any] = {}
    enabled: bool = True
    read_only: bool = False
    reserve: ReserveSize = Reserve()
    capacity: SizeBytes | None = None
    group: str | None = None  # a name under `groups:`, whose `copies:` rule its files follow

    @field_validator("url")
    @classmethod
    def _url_is_usable(cls, url: str) -> str:
        error = check_store_url(url)
        if error is not None:
            raise ValueError(error)
        return url


def store_protocol(url: str) -> str:
    """The fsspec protocol of a store URL; a plain path is a local directory."""
    protocol, _ = split_protocol(url)
    return (protocol or "file").lower()


def check_store_url(url: str) -> str | None:
    """Return why ``url`` cannot be used as a store on this host, or None if it can."""
    protocol = store_protocol(url)
    _, path = split_protocol(url)
    if not path.strip("/"):
        return f"store URL {url!r} names no path, bucket or host"
    if protocol in LOCAL_PROTOCOLS:
        return None
    known = set(known_implementations) | set(registry)
    if protocol not in known:
        hint = difflib.get_close_matches(protocol, sorted(known), n=1)
        did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
        return (
            f"unknown store protocol {protocol!r} in {url!r}{did_you_mean}; "
            "use file://, s3://, sftp://, hdfs:// or another fsspec protocol"
        )
    if protocol in OPTIONAL_BACKENDS:
        module, install = OPTIONAL_BACKENDS[protocol]
        if importlib.util.find_spec(module) is None:
            return f"store URL {url!r} needs the {module} package, which is missing: {install}"
        return None
    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as exc:
        return f"store URL {url!r} needs a package that is missing: {exc}"
    return None
