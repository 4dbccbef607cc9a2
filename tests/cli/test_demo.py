"""`sexton demo`, the README's first command: it must serve a working instance and stop cleanly."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def poll(url: str, accept, timeout: float = 120.0):
    """GET ``url`` until ``accept(response)`` is truthy; the service may still be starting."""
    deadline = time.monotonic() + timeout
    last = "nothing"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url)
            if accept(response):
                return response
            last = response.text
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer as expected within {timeout:.0f}s: {last}")


@pytest.mark.timeout(300)
def test_demo_serves_its_tasks_runs_one_on_request_and_stops_cleanly(tmp_path: Path):
    listen = f"127.0.0.1:{free_port()}"
    log = (tmp_path / "demo.log").open("w")
    demo = subprocess.Popen(
        [sys.executable, "-m", "sexton", "demo", "--dir", str(tmp_path / "d"), "--listen", listen],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://{listen}"
        poll(f"{base}/healthz", lambda r: r.is_success)
        tasks = {task["task"] for task in httpx.get(f"{base}/api/v1/tasks").json()}
        assert {"fixity-sample", "usage-review", "nightly-export"} <= tasks
        run = httpx.post(f"{base}/api/v1/tasks/fixity-sample/runs").json()
        poll(f"{base}/api/v1/runs/{run['id']}", lambda r: r.json()["state"] == "succeeded")
        assert "Sexton" in httpx.get(f"{base}/").text  # the dashboard
    except AssertionError:
        print((tmp_path / "demo.log").read_text())  # shown with the failure
        raise
    finally:
        demo.send_signal(signal.SIGTERM)
        code = demo.wait(timeout=60)
        log.close()
    output = (tmp_path / "demo.log").read_text()
    assert code == 0, output
    assert f"http://{listen}/" in output and "stopped cleanly" in output
    assert (tmp_path / "d" / "fixity.txt").read_text().count("record-") == 5
