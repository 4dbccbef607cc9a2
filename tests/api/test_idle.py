"""Idle alerts (alert.idle_after): a task that keeps succeeding while processing nothing is
`idle` in the API, `sexton status`, /metrics and the dashboard, and the flip is recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from served import ADMIN_TOKEN, Api
from sqlalchemy import select

from sexton.db import reading
from sexton.db.tables import status_changes
from sexton.engine.monitor import Monitor

CHROMIUM = Path("/usr/bin/chromium")
INDEXER = """\
tasks:
  - {name: indexer, type: command, command: [cdxj-indexer], executor: external,
     alert: {idle_after: 2d}}
  - {name: busy, type: command, command: [cdxj-indexer], executor: external}
"""


def finish_a_run(api: Api, task: str, items: int) -> None:
    """One run of an external task, done by a service over HTTP with ``items`` processed."""
    api.admin.post(f"/api/v1/tasks/{task}/runs")
    claimed = api.admin.post("/api/v1/runs/claim", json={"tasks": [task], "worker": "w"})
    run_id = claimed.json()["id"]
    finished = api.admin.post(
        f"/api/v1/runs/{run_id}/finish",
        json={"outcome": "succeeded", "items": items, "worker": "w"},
    )
    assert finished.json()["state"] == "succeeded"


def status(api: Api, task: str) -> str:
    state: str = api.reader.get(f"/api/v1/tasks/{task}").json()["status"]
    return state


def test_succeeding_with_nothing_to_do_past_idle_after_is_idle_until_work_is_done(
    serve_api: Callable[..., Api],
) -> None:
    api = serve_api(INDEXER)
    clock, monitor = api.instance.clock, Monitor(api.instance.config, api.instance.engine)
    first = clock.now()
    finish_a_run(api, "indexer", items=0)
    finish_a_run(api, "busy", items=0)  # no idle_after: never idle
    clock.advance(timedelta(days=1))
    finish_a_run(api, "indexer", items=0)
    assert status(api, "indexer") == "up"  # idle for one day, less than idle_after
    monitor.record_flips(clock.now())

    clock.advance(timedelta(days=1, minutes=1))
    indexer = api.reader.get("/api/v1/tasks/indexer").json()
    assert indexer["status"] == "idle" and indexer["idle_since"] == first.isoformat().replace(
        "+00:00", "Z"
    )
    assert status(api, "busy") == "up"
    metrics = api.reader.get("/metrics").text
    assert 'sexton_task_status{status="idle",task="indexer",type="command"} 1.0' in metrics
    assert 'sexton_task_status{status="up",task="indexer",type="command"} 0.0' in metrics
    assert ("indexer", "up", "idle") in monitor.record_flips(clock.now())

    finish_a_run(api, "indexer", items=4)
    assert status(api, "indexer") == "up"
    assert api.reader.get("/api/v1/tasks/indexer").json()["idle_since"] is None
    monitor.record_flips(clock.now())
    with reading(api.instance.engine) as connection:
        flips = connection.execute(
            select(status_changes.c.from_status, status_changes.c.to_status)
            .where(status_changes.c.task == "indexer")
            .order_by(status_changes.c.id)
        ).all()
    assert [tuple(flip) for flip in flips][-2:] == [("up", "idle"), ("idle", "up")]


def test_a_failure_outranks_idle(serve_api: Callable[..., Api]) -> None:
    api = serve_api(INDEXER)
    finish_a_run(api, "indexer", items=0)
    api.instance.clock.advance(timedelta(days=3))
    assert status(api, "indexer") == "idle"
    api.admin.post("/api/v1/tasks/indexer/runs")
    run_id = api.admin.post("/api/v1/runs/claim", json={"tasks": ["indexer"], "worker": "w"})
    api.admin.post(
        f"/api/v1/runs/{run_id.json()['id']}/finish", json={"outcome": "failed", "worker": "w"}
    )
    assert status(api, "indexer") == "down"


def test_sexton_status_shows_an_idle_task(serve_api: Callable[..., Api]) -> None:
    api = serve_api(INDEXER)
    finish_a_run(api, "indexer", items=0)  # on the fake clock, long before the real today
    config = str(api.instance.config.path)
    listed = subprocess.run(
        [sys.executable, "-m", "sexton", "status", "--json", "-c", config],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert {t["task"]: t["status"] for t in json.loads(listed.stdout)}["indexer"] == "idle"
    table = subprocess.run(
        [sys.executable, "-m", "sexton", "status", "-c", config],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert "idle" in next(line for line in table.stdout.splitlines() if "indexer" in line)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
def test_the_dashboard_shows_an_idle_task_and_since_when(
    serve_api: Callable[..., Api], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    api = serve_api(INDEXER)
    finish_a_run(api, "indexer", items=0)
    api.instance.clock.advance(timedelta(days=3))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(api.url + "/login")
        page.fill("#token", ADMIN_TOKEN)
        page.click("button[type=submit]")
        row = page.locator("table.tasks tr", has_text="indexer")
        expect(row.locator(".pill")).to_have_text("idle")
        expect(row).to_contain_text("nothing processed since")
        expect(page.locator(".counts .pill.idle")).to_have_text("1 idle")
        colour = row.locator(".pill").evaluate("e => getComputedStyle(e).backgroundColor")
        assert colour == "rgb(253, 240, 207)"  # the late colours: needs a look, not a page
        page.screenshot(path=str(tmp_path / "idle.png"), full_page=True)
        browser.close()
