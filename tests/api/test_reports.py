"""Reports from outside: pings from jobs elsewhere and manual duties marked done."""

from __future__ import annotations

from served import Api


def test_pings_turn_a_heartbeat_task_up_and_a_failure_turns_it_down(api: Api) -> None:
    assert api.reader.get("/api/v1/tasks/export").json()["status"] == "new"
    start = api.admin.get("/api/v1/tasks/export/ping/start")
    assert start.json()["state"] == "running"
    done = api.admin.post("/api/v1/tasks/export/ping/success", content=b"exported 12 tables\n")
    assert done.json()["state"] == "succeeded" and done.json()["id"] == start.json()["id"]
    assert api.reader.get("/api/v1/tasks/export").json()["status"] == "up"
    assert "exported 12" in api.reader.get(f"/api/v1/runs/{done.json()['id']}").json()["log_tail"]
    failed = api.admin.get("/api/v1/tasks/export/ping/fail?exit_code=3")
    assert failed.json()["error"] == "exit code 3" and failed.json()["exit_code"] == 3
    assert api.reader.get("/api/v1/tasks/export").json()["status"] == "down"


def test_only_heartbeat_tasks_take_pings(api: Api) -> None:
    response = api.admin.get("/api/v1/tasks/hello/ping/success")
    assert response.status_code == 409 and "heartbeat" in response.json()["detail"]


def test_a_manual_duty_is_marked_done_with_a_note(api: Api) -> None:
    done = api.admin.post("/api/v1/tasks/usage-review/done", json={"note": "usage at 71%"})
    assert done.status_code == 200
    assert done.json()["state"] == "succeeded" and done.json()["note"] == "usage at 71%"
    assert api.reader.get("/api/v1/tasks/usage-review").json()["status"] == "up"
    assert api.admin.post("/api/v1/tasks/usage-review/done").status_code == 200  # note optional
    refused = api.admin.post("/api/v1/tasks/export/done", json={"note": "x"})
    assert refused.status_code == 409
