"""`sexton api` as an operator runs it: serves at api.listen, stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_sexton_api_serves_and_stops_on_sigterm(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    config = tmp_path / "sexton.yaml"
    config.write_text(
        f"database: '{database_url}'\n"
        f"api: {{listen: '127.0.0.1:{port}', tokens: {{read: r3ad}}}}\n"
        "tasks:\n  - {name: export, type: heartbeat, every: 1h}\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "sexton", "api", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "sexton api did not start"
            time.sleep(0.1)
        tasks = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/tasks", headers={"Authorization": "Bearer r3ad"}
        )
        assert [t["task"] for t in tasks.json()] == ["export"]
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    assert "r3ad" not in output
