"""Shared fixtures: both databases, a fake clock, config files, test task types."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

import support
from backends import SftpServer
from sexton.clock import FakeClock
from sexton.config import Config, load_config
from sexton.engine.service import Instance
from sexton.tasks import registry

# The two-site fixture (`two_sites`), for the transfer tests and the repair tests alike.
pytest_plugins = ["transfer.transfer_sites"]

PG_URL = os.environ.get("SEXTON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def postgres_schema() -> Iterator[str]:
    """The URL of a fresh PostgreSQL schema of its own, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sexton.db'}"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema, for tests that need PostgreSQL alongside SQLite."""
    with postgres_schema() as url:
        yield url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """S3 through moto's server on loopback, with the bucket the tests use."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=support.S3_BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def sftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SftpServer]:
    """SFTP through asyncssh on loopback, for the whole session; the client key is a file."""
    import asyncssh

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


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(support.START)


WriteConfig = Callable[..., Config]


@pytest.fixture
def write_config(tmp_path: Path, database_url: str) -> WriteConfig:
    """Write a sexton.yaml with the test database and load it."""

    def write(body: str, name: str = "sexton.yaml", **environ: str) -> Config:
        path = tmp_path / name
        path.write_text(f"database: {database_url}\n{body}")
        return load_config(path, registry.task_class, environ={**os.environ, **environ})

    return write


@pytest.fixture
def open_instance(write_config: WriteConfig, clock: FakeClock) -> Iterator[Callable[..., Instance]]:
    opened: list[Instance] = []

    def make(body: str, **environ: str) -> Instance:
        instance = Instance.open(write_config(body, **environ), clock)
        opened.append(instance)
        return instance

    yield make
    for instance in opened:
        instance.engine.dispose()


@pytest.fixture(autouse=True)
def recorder() -> Iterator[support.Recorder]:
    """Test task types registered, with a fresh record of their calls."""
    fresh = support.fresh_recorder()
    for task_type in (support.NoteTask, support.WaitTask):
        registry.register(task_type)
    yield fresh
    fresh.release.set()
