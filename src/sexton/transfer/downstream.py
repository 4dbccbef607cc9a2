"""Asking the sites that hold copies of a file to hash them again now, before a deletion here
relies on them (``rolling_deletion`` with ``verify_downstream: true``)."""

from __future__ import annotations

from ..catalog import Copy
from ..tasks.base import RunContext, TaskFailed
from .runs import SiteRun
from .sites import SiteError


def reconfirm_remote(ctx: RunContext, copy: Copy) -> list[str]:
    """Refresh every remote instance of ``copy``'s file from its site's fresh answer:
    confirmed now with the checksum it hashed, or no longer vouching when that site's copy
    is gone or damaged. Returns the sites that could not be asked: their copies must not be
    relied on for this deletion."""
    unasked = []
    with SiteRun(ctx) as sites:
        for site, store, _checksum in sites.book.remote_copies(copy.file_id):
            try:
                reply = sites.client(site).reconfirm(sites.me, [copy.name])
            except (SiteError, TaskFailed):
                unasked.append(site)
                continue
            found = {f.name: f for f in reply.files}.get(copy.name)
            if found is None or found.checksum is None or found.store != store:
                sites.book.set_remote(copy.file_id, site, store, None)
            if found is not None and found.checksum is not None and found.store is not None:
                sites.book.set_remote(copy.file_id, site, found.store, found.checksum)
    return unasked
