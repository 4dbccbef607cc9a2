"""Stores over the API: usage, and switching one off and on for every host at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from served import TASKS, Api


def test_a_store_is_disabled_and_enabled_by_an_admin_for_everyone(
    serve_api: Callable[..., Api], tmp_path: Path
) -> None:
    drive = tmp_path / "drive1"
    drive.mkdir()
    api = serve_api(f"stores:\n  drive1: {{url: '{drive.as_uri()}'}}\n{TASKS}")
    assert api.reader.get("/api/v1/stores").json()["drive1"]["enabled"] is True
    assert api.reader.post("/api/v1/stores/drive1/disable").status_code == 403
    off = api.admin.post("/api/v1/stores/drive1/disable")
    assert off.status_code == 200 and off.json()["enabled"] is False
    stats = api.instance.config.settings.stores["drive1"]
    assert stats.enabled is True  # the config is left alone; the database holds the switch
    assert api.reader.get("/api/v1/catalog/stats").json()["stores"]["drive1"]["enabled"] is False
    assert api.admin.post("/api/v1/stores/drive1/enable").json()["enabled"] is True


def test_switching_an_unknown_store_is_a_404_with_a_suggestion(
    serve_api: Callable[..., Api], tmp_path: Path
) -> None:
    api = serve_api(f"stores:\n  drive1: {{url: '{tmp_path.as_uri()}'}}\n{TASKS}")
    response = api.admin.post("/api/v1/stores/drive2/disable")
    assert response.status_code == 404 and "did you mean 'drive1'" in response.json()["detail"]
    assert api.admin.post("/api/v1/stores/drive1/pause").status_code == 422
