"""Real backends for store tests: a temp directory, S3 via moto's server, SFTP via asyncssh.

The servers listen on 127.0.0.1 only, on ports the OS picks, and live for the whole session;
each test gets its own fresh root (directory, key prefix or remote directory).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from sexton.stores import Store, StoreSettings, open_store
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


@pytest.fixture(scope="session")
def sftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SftpServer]:
    keys = tmp_path_factory.mktemp("ssh-keys")
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key_path = keys / "id_ed25519"
    client_key.write_private_key(str(client_key_path))
    authorized = asyncssh.import_authorized_keys(client_key.export_public_key().decode())

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="sftp-server", daemon=True)
    thread.start()

    async def start() -> asyncssh.SSHAcceptor:
        return await asyncssh.listen(
            "127.0.0.1",
            0,
            server_host_keys=[host_key],
            authorized_client_keys=authorized,
            sftp_factory=True,
        )

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    port = server.sockets[0].getsockname()[1]
    yield SftpServer(port, client_key_path)

    async def stop() -> None:
        server.close()
        await server.wait_closed()
        # Sessions of clients still connected (sshfs pools) would be left pending otherwise.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)


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


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each backend in turn, with a fresh empty root."""
    return make_backend(request.param, request, tmp_path)


@pytest.fixture
def make_store(backend: Backend) -> Callable[..., Store]:
    """Open a store on the current backend; keyword arguments go to StoreSettings."""

    def make(**overrides: Any) -> Store:
        return open_store(f"test-{backend.kind}", backend.settings(**overrides))

    return make


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    return make_store()


@pytest.fixture
def files_on_disk(backend: Backend) -> Callable[[], list[str]]:
    """Every file under the store's directory, temp files included (empty for S3)."""

    def files() -> list[str]:
        root = backend.local_root
        if root is None:
            return []
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    return files


@pytest.fixture
def local_store(tmp_path: Path) -> Store:
    root = tmp_path / "local"
    root.mkdir()
    return open_store("local", StoreSettings(url=root.as_uri()))


@pytest.fixture
def s3_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return open_store("s3", make_backend("s3", request, tmp_path).settings())
