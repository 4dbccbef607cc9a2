"""What the transfer tasks share: the run context with the config, this site's name, and
a client per other site, closed when the run ends."""

from __future__ import annotations

from typing import Protocol, cast

from ..config import Config
from ..tasks.base import RunContext, TaskFailed
from .records import TransferBook
from .sites import SiteClient, SiteError


class TransferContext(RunContext, Protocol):
    config: Config  # the sites, this site's name, the transfer settings


class SiteRun:
    """One run's view of the sites: ``with SiteRun(ctx) as sites: sites.client(name)``."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = cast(TransferContext, ctx)
        self.settings = self.ctx.config.settings
        self.book = TransferBook(ctx.catalog.engine, ctx.catalog.clock)
        self._clients: dict[str, SiteClient] = {}

    @property
    def me(self) -> str:
        """This site's name, which the other sites know it by; needed to talk to them."""
        if not self.settings.site:
            raise TaskFailed("set site: in the config (this site's name, as other sites know it)")
        return self.settings.site

    def knows(self, site: str) -> bool:
        return site in self.settings.sites

    def client(self, site: str) -> SiteClient:
        if site not in self._clients:
            try:
                self._clients[site] = SiteClient.for_site(
                    self.settings.sites, site, self.ctx.should_stop
                )
            except SiteError as exc:
                raise TaskFailed(str(exc)) from None
        return self._clients[site]

    def __enter__(self) -> SiteRun:
        return self

    def __exit__(self, *_exc: object) -> None:
        for client in self._clients.values():
            client.close()
