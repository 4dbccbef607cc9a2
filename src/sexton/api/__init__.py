"""The HTTP surface: JSON API, dashboard, ``/metrics`` and ``/healthz``.

Nothing is imported here, so commands that never serve HTTP do not load the web framework.
"""
