"""What the catalog refuses, so callers (CLI, API, tasks) catch one family: ``CatalogError``."""

from __future__ import annotations


class CatalogError(Exception):
    """A catalog request that cannot be done; the message says what to give instead."""


class UnknownFile(CatalogError):
    """No file of that name in the catalog."""


class UnknownStore(CatalogError):
    """No store of that name in the config."""


class BadListing(CatalogError):
    """A listing line that is neither ``hadoop fs -ls -R`` output nor a JSON object."""
