"""Store tests run on every backend: a temp directory, S3 via moto's server, SFTP via asyncssh."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backends import BACKENDS, Backend, make_backend
from sexton.stores import Store, StoreSettings, open_store


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
