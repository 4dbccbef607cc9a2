"""The HTTP surface: JSON API, dashboard, ``/metrics`` and ``/healthz``."""

from .app import API_PREFIX, create_app

__all__ = ["API_PREFIX", "create_app"]
