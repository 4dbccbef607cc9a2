"""Catalog fixtures: an instance with a local store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sexton.engine.service import Instance


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    root.mkdir()
    return root


@pytest.fixture
def archive(open_instance: Callable[..., Instance], store_dir: Path) -> Callable[[str], Instance]:
    """An instance whose config has store `store` at ``store_dir`` plus the given tasks."""

    def make(tasks: str = "") -> Instance:
        store = f"stores:\n  store: {{url: '{store_dir.as_uri()}'}}\n"
        return open_instance(f"{store}tasks:\n{tasks or '  []'}\n")

    return make
