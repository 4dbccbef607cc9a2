"""What route functions are handed: the instance, the catalog, a configured task."""

from __future__ import annotations

from fastapi import HTTPException, Request

from ..catalog import Catalog, OpenStores
from ..config import TaskSpec
from ..engine.service import Instance


def instance_of(request: Request) -> Instance:
    instance: Instance = request.app.state.instance
    return instance


def stores_of(request: Request) -> OpenStores:
    """The configured stores, opened once per app (an SFTP store keeps its session)."""
    stores: OpenStores = request.app.state.stores
    return stores


def catalog_of(request: Request) -> Catalog:
    instance = instance_of(request)
    return Catalog(instance.engine, instance.clock, instance.config.settings.checksum)


def task_of(instance: Instance, name: str) -> TaskSpec:
    """The configured task ``name``; 404 (with a "did you mean") when there is none."""
    try:
        return instance.config.task(name)
    except KeyError as exc:
        raise HTTPException(404, str(exc.args[0])) from None
