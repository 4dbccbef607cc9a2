"""Two sites for the transfer tests: the source on SQLite, the destination on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from transfer_sites import Site, free_port


@pytest.fixture
def two_sites(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Site, Site]]:
    source_root = tmp_path / "source"
    source_root.mkdir()
    source = Site("source", source_root, f"sqlite:///{source_root / 'sexton.db'}", free_port())
    destination = Site("destination", tmp_path / "destination", postgres_url, free_port())
    yield source, destination
    for site in (source, destination):
        site.stop()
