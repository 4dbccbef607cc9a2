"""The JSON API's routers, one per area, all under ``/api/v1``."""
