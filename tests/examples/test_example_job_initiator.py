"""examples/job-initiator end to end: `sexton serve` queues the initial sync at start, and the
test plays the outside job services, claiming runs over the HTTP API as the README shows:
the sync comes first, healing waits for it, and no two of the three jobs ever overlap."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from example_support import Sexton, copy_example, free_port, wait_for

ADMIN_TOKEN = "initiator-admin-token"
READ_TOKEN = "initiator-read-token"
JOBS = ("initial-sync", "healing", "dump")


@pytest.fixture
def sexton(tmp_path: Path, database_url: str) -> Sexton:
    environ = {
        "SEXTON_LISTEN": f"127.0.0.1:{free_port()}",
        "SEXTON_ADMIN_TOKEN": ADMIN_TOKEN,
        "SEXTON_READ_TOKEN": READ_TOKEN,
    }
    return Sexton(copy_example("job-initiator", tmp_path), database_url, environ)


class JobService:
    """An outside service as the README's curl calls make one: claim, heartbeat, finish."""

    def __init__(self, api: httpx.Client, name: str, tasks: tuple[str, ...] = ()) -> None:
        self.api = api
        self.name = name
        self.tasks = list(tasks)

    def claim(self) -> dict[str, Any] | None:
        """The run this service got, or None when nothing may start now (204)."""
        answer = self.api.post("/runs/claim", json={"worker": self.name, "tasks": self.tasks})
        assert answer.status_code in (200, 204), answer.text
        return answer.json() if answer.status_code == 200 else None

    def heartbeat(self, run: dict[str, Any]) -> dict[str, Any]:
        answer = self.api.post(f"/runs/{run['id']}/heartbeat", json={"worker": self.name})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def finish(self, run: dict[str, Any], outcome: str = "succeeded") -> dict[str, Any]:
        body = {"worker": self.name, "outcome": outcome, "items": 1, "log": f"{run['task']} done"}
        answer = self.api.post(f"/runs/{run['id']}/finish", json=body)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


def api_client(sexton: Sexton, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://{sexton.environ['SEXTON_LISTEN']}/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def wait_until_serving(sexton: Sexton) -> None:
    """`sexton serve` answers on its port (/healthz needs no token)."""

    def healthy() -> bool:
        try:
            return httpx.get(f"http://{sexton.environ['SEXTON_LISTEN']}/healthz").is_success
        except httpx.TransportError:  # not listening yet
            return False

    wait_for(healthy, "sexton serve to answer")


def runs_of(api: httpx.Client, task: str) -> list[dict[str, Any]]:
    answer = api.get("/runs", params={"task": task})
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def trigger(api: httpx.Client, task: str) -> dict[str, Any]:
    answer = api.post(f"/tasks/{task}/runs")
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def never_overlap(runs: list[dict[str, Any]]) -> bool:
    """No run started before the previous one (in start order) had finished."""
    spans = sorted(
        (datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["finished_at"]))
        for r in runs
    )
    return all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


def test_sync_first_then_healing_and_dumps_never_overlapping(sexton: Sexton) -> None:
    assert "valid, 3 tasks" in sexton.run("validate").stdout
    status = sexton.status()
    for job in ("healing", "dump"):  # 0 0 2 * * *: seconds first, so 02:00:00
        due = datetime.fromisoformat(status[job]["next_due"])
        assert (due.hour, due.minute, due.second) == (2, 0, 0)
    assert {s["executor"] for s in status.values()} == {"external"}

    with sexton.serve(), api_client(sexton, ADMIN_TOKEN) as admin:
        maintainer = JobService(admin, "graph-maintainer", ("initial-sync", "healing"))
        publisher = JobService(admin, "dump-publisher", ("dump",))
        wait_until_serving(sexton)
        # `sexton serve` queued the initial sync as it started; the maintainer gets it first.
        sync = wait_for(maintainer.claim, "the initial sync queued at start")
        assert (sync["task"], sync["reason"], sync["state"]) == ("initial-sync", "start", "running")

        # While it runs, a healing run is skipped (the sync has not succeeded yet) and a dump
        # waits (it never overlaps the sync).
        trigger(admin, "healing")
        dump = trigger(admin, "dump")
        assert maintainer.claim() is None and publisher.claim() is None
        [healing_too_early] = runs_of(admin, "healing")
        assert healing_too_early["state"] == "skipped"
        assert "requires initial-sync" in healing_too_early["error"]
        assert maintainer.heartbeat(sync)["cancel_requested"] is False
        assert maintainer.finish(sync)["state"] == "succeeded"

        # Now healing may run; the dump still waits until it is over.
        trigger(admin, "healing")
        healing = maintainer.claim()
        assert healing is not None and healing["task"] == "healing"
        assert publisher.claim() is None
        maintainer.finish(healing)
        claimed_dump = publisher.claim()
        assert claimed_dump is not None and claimed_dump["id"] == dump["id"]
        assert publisher.finish(claimed_dump, "failed")["state"] == "failed"

        finished = [
            run for job in JOBS for run in runs_of(admin, job) if run["started_at"] is not None
        ]
        assert len(finished) == 3 and never_overlap(finished)
        assert min(finished, key=lambda r: r["started_at"])["task"] == "initial-sync"

        # A read token may look but not change anything.
        with api_client(sexton, READ_TOKEN) as reader:
            assert reader.get("/tasks/healing").json()["status"] == "up"
            assert reader.post("/tasks/healing/runs").status_code == 403

        # The initiator's "clean jobs" call: finished runs of a task are forgotten.
        cleaned = admin.delete("/tasks/healing/runs")
        assert cleaned.status_code == 200 and cleaned.json()["deleted"] == 2
        assert runs_of(admin, "healing") == []

        status = sexton.status()  # the command line sees the same record while serving
        assert status["initial-sync"]["status"] == "up" and status["dump"]["status"] == "down"


def test_enable_flags_switch_healing_off_and_hold_the_sync_back(sexton: Sexton) -> None:
    every_second = "* * * * * *"  # so the scheduler shows within a second what it queues
    sexton.environ.update(
        ENABLE_HEALING="false",
        START_INITIAL_SYNC="false",
        CRON_PATTERN_HEALING_JOB=every_second,
        CRON_PATTERN_DUMP_JOB=every_second,
    )
    status = sexton.status()
    assert (status["healing"]["enabled"], status["healing"]["status"]) == (False, "paused")
    # Never run, on an every-second pattern: new within its first second, late after that (a
    # slow `status` can take longer than a second), but never paused like healing.
    assert status["dump"]["enabled"] and status["dump"]["status"] in ("new", "late")

    with sexton.serve(), api_client(sexton, ADMIN_TOKEN) as admin:
        wait_until_serving(sexton)
        # The scheduler queues the dump on its pattern; in the same pass it skipped healing.
        wait_for(
            lambda: [r for r in runs_of(admin, "dump") if r["reason"] == "schedule"],
            "a scheduled dump",
        )
        assert runs_of(admin, "healing") == []
        # No initial sync at start either: an operator triggers it when the time has come.
        assert runs_of(admin, "initial-sync") == []
        sync = trigger(admin, "initial-sync")
        claimed = JobService(admin, "graph-maintainer", ("initial-sync",)).claim()
        assert claimed is not None and claimed["id"] == sync["id"]
