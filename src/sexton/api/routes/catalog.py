"""The catalog and the stores: totals, files with their copies and marks, the files that
still lack a mark (what a processing job would pick up next), and switching stores on or off."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from ...catalog import STATES, CatalogError, CopiesPolicy
from ...config.errors import did_you_mean
from ..auth import ADMIN, READ
from ..deps import catalog_of, instance_of, stores_of
from ..schemas import CatalogStatsOut, FileDetailOut, ListedFileOut, NeededFileOut, StoreOut

InstanceState = Literal["present", "missing", "corrupt", "deleted"]
assert set(InstanceState.__args__) == set(STATES)  # type: ignore[attr-defined]

# The catalog's rule for mark names (non-blank, no '=' or control characters), published in
# the schema so clients know it before they ask.
MARK_PATTERN = r"^[^=\x00-\x1f]*[^=\s\x00-\x1f][^=\x00-\x1f]*$"

router = APIRouter(tags=["catalog"], dependencies=[READ])


@router.get("/stores", response_model=dict[str, StoreOut])
def stores(request: Request) -> dict[str, Any]:
    """Each store's files and bytes held, free bytes (None when it cannot tell), enabled."""
    stats = catalog_of(request).stats(stores_of(request))
    return {name: store.to_json() for name, store in stats.stores.items()}


@router.post("/stores/{name}/{action}", response_model=StoreOut, dependencies=[ADMIN])
def switch_store(
    request: Request, name: str, action: Literal["enable", "disable"]
) -> dict[str, Any]:
    """Take a store out of use (a drive shipped away, a full disk) or back in. Kept in the
    database, so every host and every task sees it at once; the config is left as it is."""
    configured = instance_of(request).config.settings.stores
    if name not in configured:
        raise HTTPException(404, f"no store named {name!r}{did_you_mean(name, configured)}")
    catalog = catalog_of(request)
    catalog.set_store_enabled(name, action == "enable", f"{action}d through the API")
    return catalog.stats(stores_of(request)).stores[name].to_json()


@router.get("/catalog/stats", response_model=CatalogStatsOut)
def stats(request: Request) -> dict[str, Any]:
    policy = CopiesPolicy.of(instance_of(request).config.settings)
    return catalog_of(request).stats(stores_of(request), policy).to_json()


@router.get("/catalog/files", response_model=list[ListedFileOut])
def files(
    request: Request,
    store: str | None = None,
    state: InstanceState | None = None,
    limit: int = Query(100, ge=1, le=10_000),
) -> list[dict[str, Any]]:
    """Files and their copies, by name."""
    return [row.to_json() for row in catalog_of(request).ls(store, None, state, limit)]


@router.get("/catalog/files/{name:path}", response_model=FileDetailOut)
def show_file(name: str, request: Request) -> dict[str, Any]:
    """One file with its copies (and when each was last verified) and its marks. A name no
    file can have (``../x``) is simply not found, with the reason."""
    try:
        return catalog_of(request).show(name).to_json()
    except CatalogError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/catalog/needs", response_model=list[NeededFileOut])
def needs(
    request: Request,
    mark: str = Query(max_length=200, pattern=MARK_PATTERN),
    value: str | None = None,
    store: str | None = None,
    limit: int = Query(100, ge=1, le=10_000),
    failed: bool = False,
) -> list[dict[str, Any]]:
    """Files without ``mark`` (or without ``mark=value``), newest first; with ``failed``, only
    the quarantined ones (a for_each_file command failed on them alone)."""
    found = catalog_of(request).needs(mark, value, store, limit=limit, failed=failed)
    return [{**needed.file.to_json(), "path": needed.path} for needed in found]
