"""Where store tests keep their stores: a temp directory, S3 via moto's server, SFTP via
asyncssh. The servers are the session fixtures `s3_endpoint` and `sftp_server` of
tests/conftest.py; each test gets its own fresh root (directory, key prefix or remote directory).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sexton.stores import StoreSettings
from support import S3_BUCKET

BACKENDS = ["local", "s3", "sftp"]


@dataclass(frozen=True)
class Backend:
    """Where a test store lives: URL and fsspec options, plus how to look at it directly."""

    kind: str
    url: str
    options: dict[str, Any]
    local_root: Path | None  # the directory behind the store, for local and SFTP

    def settings(self, **overrides: Any) -> StoreSettings:
        return StoreSettings(url=self.url, options=self.options, **overrides)


@dataclass(frozen=True)
class SftpServer:
    port: int
    client_key: Path


def make_backend(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if kind == "local":
        root = tmp_path / "store"
        root.mkdir()
        return Backend(kind, root.as_uri(), {}, root)
    if kind == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        options = {
            "endpoint_url": endpoint,
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"region_name": "us-east-1"},
        }
        return Backend(kind, f"s3://{S3_BUCKET}/{uuid.uuid4().hex}", options, None)
    server: SftpServer = request.getfixturevalue("sftp_server")
    root = tmp_path / "sftp-store"
    root.mkdir()
    options = {"client_keys": [str(server.client_key)], "known_hosts": None}
    return Backend(kind, f"sftp://tester@127.0.0.1:{server.port}{root}", options, root)
