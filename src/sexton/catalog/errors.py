"""What the catalog refuses, so callers (CLI, API, tasks) catch one family: ``CatalogError``."""

from __future__ import annotations


class CatalogError(Exception):
    """A catalog request that cannot be done; the message says what to give instead."""


class UnknownFile(CatalogError):
    """No file of that name in the catalog."""


class UnknownStore(CatalogError, KeyError):
    """No store of that name in the config (a KeyError too, so ``in`` works on mappings)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class BadListing(CatalogError):
    """A listing line that is neither ``hadoop fs -ls -R`` output nor a JSON object."""
