"""Pings the way cron jobs send them to healthchecks.io, sent with real curl to a real server
on loopback: /ping/TASK[/start|/fail|/EXIT_STATUS], a ping token in the URL or a task's
ping_key in place of its name, the body's end kept as the run's log, `rid` pairing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from served import ADMIN_TOKEN, READ_TOKEN, Api

PING_TOKEN = "ping-only-token"
PING_KEY = "k3y-for-the-nightly-export"
API = (
    f"api: {{listen: '127.0.0.1:0', "
    f"tokens: {{admin: {ADMIN_TOKEN}, read: {READ_TOKEN}, ping: {PING_TOKEN}}}}}\n"
)
TASKS = f"""\
tasks:
  - {{name: export, type: heartbeat, every: 1h}}
  - {{name: nightly export, type: heartbeat, every: 1d, ping_key: {PING_KEY}}}
  - {{name: hello, type: test_note, every: 1h}}
"""


@pytest.fixture
def api(serve_api: Callable[..., Api]) -> Api:
    return serve_api(TASKS, api=API)


def curl(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """The line cron users already have: fail on HTTP errors, quiet, retried, output dropped."""
    return subprocess.run(
        ["curl", "-fsS", "-m", "10", "--retry", "5", "-o", "/dev/null", *extra, url],
        capture_output=True,
        text=True,
        timeout=120,
    )


def runs_of(api: Api, task: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.reader.get("/api/v1/runs", params={"task": task}).json()
    return found


def status_of(api: Api, task: str) -> str:
    status: str = api.reader.get(f"/api/v1/tasks/{task}").json()["status"]
    return status


def test_curl_start_then_success_with_the_token_in_the_url_keeps_the_end_of_the_log(
    api: Api, tmp_path: Path
) -> None:
    assert curl(f"{api.url}/ping/export/start?token={PING_TOKEN}").returncode == 0
    assert status_of(api, "export") == "running"
    log = tmp_path / "job.log"
    log.write_text("START-OF-OUTPUT\n" + "x" * 150_000 + "\nexported 12 tables\n")
    sent = curl(f"{api.url}/ping/export?token={PING_TOKEN}", "--data-binary", f"@{log}")
    assert sent.returncode == 0, sent.stderr
    [run] = runs_of(api, "export")
    assert run["state"] == "succeeded" and status_of(api, "export") == "up"
    kept = api.reader.get(f"/api/v1/runs/{run['id']}").json()["log_tail"]
    assert kept.endswith("exported 12 tables\n") and "START-OF-OUTPUT" not in kept
    assert len(kept.encode()) == 100_000


def test_an_exit_status_in_the_path_is_success_at_0_and_failure_otherwise(api: Api) -> None:
    headers = ("-H", f"Authorization: Bearer {PING_TOKEN}")
    assert curl(f"{api.url}/ping/export/0", *headers).returncode == 0
    assert runs_of(api, "export")[0]["state"] == "succeeded"
    assert curl(f"{api.url}/ping/export/3", *headers, "-X", "POST").returncode == 0
    failed = runs_of(api, "export")[0]
    assert failed["state"] == "failed" and failed["error"] == "exit code 3"
    assert status_of(api, "export") == "down"
    assert curl(f"{api.url}/ping/export/fail", *headers).returncode == 0
    assert runs_of(api, "export")[0]["error"] == "reported failure"
    for wrong in ("256", "-1", "finish", "007x"):
        refused = api.anonymous.get(f"/ping/export/{wrong}", params={"token": PING_TOKEN})
        assert refused.status_code == 422, wrong
    assert len(runs_of(api, "export")) == 3  # nothing recorded for the refused ones


def test_rid_pairs_overlapping_starts_with_their_own_ends(api: Api) -> None:
    first, second = uuid4(), uuid4()
    ping = f"{api.url}/ping/export"
    assert curl(f"{ping}/start?token={PING_TOKEN}&rid={first}").returncode == 0
    assert curl(f"{ping}/start?token={PING_TOKEN}&rid={second}").returncode == 0
    assert curl(f"{ping}/fail?token={PING_TOKEN}&rid={second}").returncode == 0
    assert curl(f"{ping}?token={PING_TOKEN}&rid={first}").returncode == 0
    older, newer = sorted(runs_of(api, "export"), key=lambda run: run["id"])
    assert (older["state"], newer["state"]) == ("succeeded", "failed")
    assert newer["error"] == "reported failure"  # not "started again before reporting"
    assert api.anonymous.get(f"/ping/export?token={PING_TOKEN}&rid=not-a-uuid").status_code == 422


def test_a_ping_key_in_place_of_the_name_needs_no_token(api: Api) -> None:
    assert curl(f"{api.url}/ping/{PING_KEY}/start").returncode == 0
    assert curl(f"{api.url}/ping/{PING_KEY}", "--data-binary", "done").returncode == 0
    [run] = runs_of(api, "nightly export")
    assert run["state"] == "succeeded"
    assert api.reader.get(f"/api/v1/runs/{run['id']}").json()["log_tail"] == "done"
    guessed = api.anonymous.get(f"/ping/{PING_KEY[:-1]}x/start")
    assert guessed.status_code == 401


def test_tokens_and_task_kinds_are_checked_before_anything_is_recorded(api: Api) -> None:
    assert curl(f"{api.url}/ping/export").returncode == 22  # curl -f: HTTP error
    assert api.anonymous.get("/ping/export").status_code == 401
    assert api.anonymous.get(f"/ping/export?token={READ_TOKEN}").status_code == 403
    assert api.anonymous.get("/ping/export?token=wrong").status_code == 403
    assert api.anonymous.get(f"/ping/hello?token={PING_TOKEN}").status_code == 409
    missing = api.anonymous.get(f"/ping/exprot?token={PING_TOKEN}")
    assert missing.status_code == 404 and "export" in missing.json()["detail"]
    pinger = {"Authorization": f"Bearer {PING_TOKEN}"}
    assert api.anonymous.get("/api/v1/tasks", headers=pinger).status_code == 403  # pings only
    assert api.anonymous.get("/metrics", headers=pinger).status_code == 403
    assert runs_of(api, "export") == [] and runs_of(api, "hello") == []
    assert api.admin.get("/ping/export").status_code == 200  # an admin token pings too


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("{name: job, type: heartbeat, every: 1h, ping_key: short}", "at least 16 characters"),
        (
            f"{{name: job, type: command, command: ['true'], every: 1h, ping_key: {PING_KEY}}}",
            "only heartbeat tasks take pings",
        ),
        (
            f"{{name: job, type: heartbeat, every: 1h, ping_key: {PING_KEY}}}\n"
            f"  - {{name: other, type: heartbeat, every: 1h, ping_key: {PING_KEY}}}",
            "another task has the same ping key",
        ),
    ],
)
def test_a_bad_ping_key_is_a_config_error_naming_where(
    tmp_path: Path, setting: str, message: str
) -> None:
    config = tmp_path / "sexton.yaml"
    config.write_text(f"tasks:\n  - {setting}\n")
    checked = subprocess.run(
        [sys.executable, "-m", "sexton", "validate", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 2
    assert f"{config}:" in checked.stderr and "ping_key" in checked.stderr
    assert message in checked.stderr and "Traceback" not in checked.stderr
