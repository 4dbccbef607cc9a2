"""A real uvicorn server on a free loopback port, serving an instance built from the shared
fixtures (so on SQLite and PostgreSQL), and HTTP clients holding each kind of token."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from served import ADMIN_TOKEN, API, READ_TOKEN, TASKS, Api, client

from sexton.api.server import ApiServer
from sexton.engine.service import Instance


@pytest.fixture
def serve_api(open_instance: Callable[..., Instance]) -> Iterator[Callable[..., Api]]:
    """Start a server for a config body (the API settings are added in front)."""
    running: list[tuple[ApiServer, list[httpx.Client]]] = []

    def start(body: str = TASKS, api: str = API) -> Api:
        instance = open_instance(api + body)
        server = ApiServer(instance)
        url = server.start()
        clients = [client(url), client(url, READ_TOKEN), client(url, ADMIN_TOKEN)]
        running.append((server, clients))
        return Api(url, instance, *clients)

    yield start
    for server, clients in running:
        for each in clients:
            each.close()
        server.stop()


@pytest.fixture
def api(serve_api: Callable[..., Api]) -> Api:
    return serve_api()
