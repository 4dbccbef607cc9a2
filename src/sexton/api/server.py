"""Serving the app with uvicorn in a thread of the service, at ``api.listen``.

The service owns SIGTERM and SIGINT (it stops its runs cleanly first), so uvicorn must not
install handlers: run in a thread that is not the main one, it installs none, and it stops
when ``should_exit`` is set.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time

import uvicorn

from ..engine.service import Instance
from .app import create_app
from .auth import configured_tokens
from .refusal import ApiRefused

log = logging.getLogger(__name__)

STARTUP_TIMEOUT = 15.0  # seconds to bind and start before the service gives up
STOP_TIMEOUT = 10.0  # open connections get this long to finish on shutdown


def split_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8080`` for IPv6) into its parts."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ApiRefused(f"api.listen must be host:port, not {listen!r}")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen(instance: Instance) -> tuple[str, int]:
    """The address to listen on; without tokens anyone who can connect is admin, so only
    this machine may connect."""
    host, port = split_listen(instance.config.settings.api.listen)
    if not configured_tokens(instance):
        if not is_loopback(host):
            raise ApiRefused(
                f"no api.tokens are configured, so the API would let anyone on the network "
                f"change runs: refusing to listen on {host}. Set api.tokens.admin and "
                f"api.tokens.read, or listen on 127.0.0.1"
            )
        log.warning(
            "NO API TOKENS ARE CONFIGURED: anyone on this machine can use the API and the "
            "dashboard as admin (listening on loopback %s only). Set api.tokens in the config.",
            host,
        )
    return host, port


class ApiServer:
    """One uvicorn server for one instance, started and stopped with the service."""

    def __init__(self, instance: Instance) -> None:
        host, port = check_listen(instance)
        config = uvicorn.Config(
            create_app(instance),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,  # request lines could carry a token in a ping URL's query
            lifespan="off",
            timeout_graceful_shutdown=int(STOP_TIMEOUT),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="api", daemon=True)

    @property
    def url(self) -> str:
        """Where the API answers (the real port when ``api.listen`` asked for port 0)."""
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def start(self) -> str:
        """Bind and start serving; returns the URL, or raises ``ApiRefused``."""
        self.thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                listen = f"{self.server.config.host}:{self.server.config.port}"
                raise ApiRefused(f"the API could not listen on {listen} (see the log above)")
            time.sleep(0.02)
        log.info("API and dashboard at %s/", self.url)
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(STOP_TIMEOUT + 1)
