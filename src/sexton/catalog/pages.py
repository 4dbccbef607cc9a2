"""Keyset pagination: a query's rows a page at a time, each page resuming after the key of
the last row of the one before, each in its own short read. A run over a catalog of any size
then holds one page, and never keeps a read open (on SQLite, a snapshot) for hours."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from sqlalchemy import Connection, Engine

from sexton.db import reading

Row = TypeVar("Row")
Key = TypeVar("Key")

# Rows per read: large enough that a page costs little next to the work on its rows, small
# enough that memory stays flat however large the store.
PAGE_SIZE = 1000


def keyset_pages(
    engine: Engine,
    fetch: Callable[[Connection, Key | None, int], list[Row]],
    key: Callable[[Row], Key],
    limit: int | None,
) -> Iterator[list[Row]]:
    """Pages of ``fetch(connection, after, size)`` (rows after the key ``after``, None for the
    first page, at most ``size``), until it returns a short page or ``limit`` rows came."""
    after: Key | None = None
    left = limit
    while left is None or left > 0:
        size = PAGE_SIZE if left is None else min(PAGE_SIZE, left)
        with reading(engine) as connection:
            page = fetch(connection, after, size)
        if page:
            yield page
        if len(page) < size:
            return
        after = key(page[-1])
        if left is not None:
            left -= len(page)


def id_ranges(ids: Iterable[int], size: int) -> Iterator[tuple[int | None, int]]:
    """Cut ascending ids into ranges ``(after, upto]`` of ``size`` ids each (the first with
    ``after`` None), as they stream by: a run's shards, without holding its ids."""
    after: int | None = None
    last: int | None = None
    for count, last in enumerate(ids, start=1):
        if count % size == 0:
            yield after, last
            after = last
    if last is not None and last != after:
        yield after, last
