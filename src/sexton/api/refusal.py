"""Why the API cannot be served, kept apart from the server so the CLI can name it cheaply."""

from __future__ import annotations


class ApiRefused(Exception):
    """The API cannot be served as configured (unsafe address, port in use)."""
