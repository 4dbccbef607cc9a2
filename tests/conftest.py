"""Shared fixtures: both databases, a fake clock, config files, test task types."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

import support
from sexton.clock import FakeClock
from sexton.config import Config, load_config
from sexton.engine.service import Instance
from sexton.tasks import registry

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
