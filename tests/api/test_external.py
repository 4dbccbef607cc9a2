"""Runs picked up by other services (executor: external): claim, heartbeat, finish, with the
same requires / exclusive_with / single-instance rules as local workers."""

from __future__ import annotations

from datetime import timedelta

from served import Api

from support import run_states


def claim(api: Api, *tasks: str, worker: str = "initiator"):
    return api.admin.post("/api/v1/runs/claim", json={"tasks": list(tasks), "worker": worker})


def test_claim_heartbeat_finish_of_an_external_run(api: Api) -> None:
    assert claim(api).status_code == 204
    queued = api.admin.post("/api/v1/tasks/initial-sync/runs").json()
    claimed = claim(api, "initial-sync")
    assert claimed.status_code == 200
    run = claimed.json()
    assert run["id"] == queued["id"] and run["state"] == "running" and run["worker"] == "initiator"
    api.instance.clock.advance(timedelta(seconds=10))
    beat = api.admin.post(f"/api/v1/runs/{run['id']}/heartbeat", json={"worker": "initiator"})
    assert beat.status_code == 200 and beat.json()["cancel_requested"] is False
    assert beat.json()["lease_expires_at"] > run["started_at"]
    stranger = api.admin.post(
        f"/api/v1/runs/{run['id']}/finish", json={"outcome": "failed", "worker": "someone-else"}
    )
    assert stranger.status_code == 409
    finished = api.admin.post(
        f"/api/v1/runs/{run['id']}/finish",
        json={"outcome": "succeeded", "items": 7, "log": "synced", "worker": "initiator"},
    )
    assert finished.json()["state"] == "succeeded" and finished.json()["items"] == 7
    again = api.admin.post(f"/api/v1/runs/{run['id']}/finish", json={"outcome": "succeeded"})
    assert again.status_code == 409
    assert api.reader.get("/api/v1/tasks/initial-sync").json()["status"] == "up"


def test_a_cancel_reaches_the_external_service_through_its_heartbeat(api: Api) -> None:
    api.admin.post("/api/v1/tasks/initial-sync/runs")
    run = claim(api).json()
    api.admin.post(f"/api/v1/runs/{run['id']}/cancel")
    beat = api.admin.post(f"/api/v1/runs/{run['id']}/heartbeat")
    assert beat.json()["cancel_requested"] is True


def test_external_runs_keep_requires_exclusive_and_single_instance(api: Api) -> None:
    # requires: healing never starts before initial-sync has succeeded once (it is skipped).
    api.admin.post("/api/v1/tasks/healing/runs")
    assert claim(api, "healing").status_code == 204
    assert run_states(api.instance, "healing") == [("healing", "api", "skipped", 1)]
    # single instance: a second run of initial-sync waits while the first runs.
    api.admin.post("/api/v1/tasks/initial-sync/runs")
    api.admin.post("/api/v1/tasks/initial-sync/runs")
    first = claim(api, "initial-sync").json()
    assert claim(api, "initial-sync").status_code == 204
    api.admin.post(f"/api/v1/runs/{first['id']}/finish", json={"outcome": "succeeded"})
    second = claim(api, "initial-sync").json()
    api.admin.post(f"/api/v1/runs/{second['id']}/finish", json={"outcome": "succeeded"})
    # exclusive_with: dump waits while healing runs.
    api.admin.post("/api/v1/tasks/healing/runs")
    healing = claim(api, "healing").json()
    api.admin.post("/api/v1/tasks/dump/runs")
    assert claim(api, "dump").status_code == 204
    api.admin.post(f"/api/v1/runs/{healing['id']}/finish", json={"outcome": "succeeded"})
    assert claim(api, "dump").json()["task"] == "dump"


def test_local_tasks_cannot_be_claimed_over_http(api: Api) -> None:
    api.admin.post("/api/v1/tasks/hello/runs")
    refused = claim(api, "hello")
    assert refused.status_code == 409 and "not an external task" in refused.json()["detail"]
    assert claim(api).status_code == 204
