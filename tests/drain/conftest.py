"""Drain fixtures: a crawler's disk (`crawl`), the archive (`archive`), an instance."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from drain_support import drain_config

from sexton.engine.service import Instance

TASK = "  - {name: drain, type: drain, source: crawl, prefix: warcs, destination: archive"


@pytest.fixture
def crawl(tmp_path: Path) -> Path:
    root = tmp_path / "crawl"
    (root / "warcs").mkdir(parents=True)
    return root


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    root.mkdir()
    return root


@pytest.fixture
def drainer(
    open_instance: Callable[..., Instance], crawl: Path, archive: Path
) -> Callable[..., Instance]:
    """An instance with one drain task `drain` of `crawl:warcs` into `archive`; keyword
    arguments add task keys (``max_size="100"``) and ``stores`` archive store keys."""

    def make(stores: str = "", **keys: str) -> Instance:
        settings = {"max_size": "100", **keys}
        extra = "".join(f", {key}: {value}" for key, value in settings.items())
        return open_instance(drain_config(crawl, archive, f"{TASK}{extra}}}\n", stores))

    return make
