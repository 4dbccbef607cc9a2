"""Runs through the API: trigger → a worker runs it, cancel, clean finished runs, and bad
requests that get a clear error and change nothing."""

from __future__ import annotations

from served import RUN_KEYS, Api

from support import run_states


def test_a_triggered_run_is_run_by_a_worker_and_shows_succeeded(api: Api) -> None:
    queued = api.admin.post("/api/v1/tasks/hello/runs")
    assert queued.status_code == 202
    run = queued.json()
    assert set(run) >= RUN_KEYS and run["state"] == "queued" and run["reason"] == "api"
    assert api.worker().run_once() is not None
    shown = api.reader.get(f"/api/v1/runs/{run['id']}").json()
    assert shown["state"] == "succeeded" and shown["items"] == 3
    assert [e["to_state"] for e in shown["events"]] == ["queued", "running", "succeeded"]
    task = api.reader.get("/api/v1/tasks/hello").json()
    assert task["status"] == "up" and task["last_run_id"] == run["id"]
    assert [r["id"] for r in task["recent_runs"]] == [run["id"]]
    listed = api.reader.get("/api/v1/runs", params={"task": "hello", "state": "succeeded"})
    assert [r["id"] for r in listed.json()] == [run["id"]]


def test_cancel_a_queued_run_then_cancelling_again_is_a_conflict(api: Api) -> None:
    run = api.admin.post("/api/v1/tasks/hello/runs").json()
    cancelled = api.admin.post(f"/api/v1/runs/{run['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    again = api.admin.post(f"/api/v1/runs/{run['id']}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]
    assert api.worker().run_once() is None


def test_deleting_a_tasks_runs_keeps_queued_ones(api: Api) -> None:
    api.admin.post("/api/v1/tasks/hello/runs")
    api.worker().run_once()
    waiting = api.admin.post("/api/v1/tasks/hello/runs").json()
    deleted = api.admin.delete("/api/v1/tasks/hello/runs")
    assert deleted.json() == {"task": "hello", "deleted": 1}
    assert [r["id"] for r in api.reader.get("/api/v1/runs?task=hello").json()] == [waiting["id"]]
    events = api.reader.get("/api/v1/events?task=hello").json()["events"]
    assert {e["run_id"] for e in events} == {waiting["id"]}


def test_events_come_newest_first_in_stable_pages(api: Api) -> None:
    for _ in range(2):
        api.admin.post("/api/v1/tasks/hello/runs")
        api.worker().run_once()
    seen: list[int] = []
    page = api.reader.get("/api/v1/events", params={"task": "hello", "limit": 4}).json()
    while True:
        seen += [event["id"] for event in page["events"]]
        if page["next_before"] is None:
            break
        api.admin.post("/api/v1/tasks/hello/runs")  # news arriving does not shift the pages
        params = {"task": "hello", "limit": 4, "before": page["next_before"]}
        page = api.reader.get("/api/v1/events", params=params).json()
    assert len(seen) == 6 and seen == sorted(seen, reverse=True)


def test_unknown_tasks_and_runs_are_404(api: Api) -> None:
    for method, path in [
        ("GET", "/api/v1/tasks/nope"),
        ("POST", "/api/v1/tasks/nope/runs"),
        ("DELETE", "/api/v1/tasks/nope/runs"),
        ("GET", "/api/v1/runs?task=nope"),
        ("POST", "/api/v1/tasks/nope/done"),
        ("GET", "/api/v1/tasks/nope/ping/success"),
        ("GET", "/api/v1/runs/999"),
        ("POST", "/api/v1/runs/999/cancel"),
        ("POST", "/api/v1/runs/999/heartbeat"),
    ]:
        response = api.admin.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.json()["detail"]
    assert "did you mean" in api.admin.get("/api/v1/tasks/helo").json()["detail"]


def test_malformed_requests_are_422_and_change_nothing(api: Api) -> None:
    for method, path, body in [
        ("GET", "/api/v1/runs?limit=0", None),
        ("GET", "/api/v1/runs?state=exploded", None),
        ("GET", "/api/v1/runs/abc", None),
        ("GET", "/api/v1/tasks/export/ping/maybe", None),
        ("GET", "/api/v1/tasks/export/ping/fail?exit_code=x", None),
        ("POST", "/api/v1/runs/claim", {"tasks": "initial-sync"}),
        ("POST", "/api/v1/runs/claim", {"tasks": [], "surprise": 1}),
        ("POST", "/api/v1/runs/1/finish", {"outcome": "maybe"}),
        ("POST", "/api/v1/tasks/usage-review/done", {"note": 5}),
    ]:
        response = api.admin.request(method, path, json=body)
        assert response.status_code == 422, (method, path, body)
        assert response.json()["detail"]
    broken = api.admin.post(
        "/api/v1/runs/claim", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    assert run_states(api.instance) == []


def test_a_nul_character_anywhere_is_a_400_on_every_database(api: Api) -> None:
    for method, path in [
        ("GET", "/api/v1/catalog/needs?mark=cdx&value=a%00b"),
        ("GET", "/api/v1/runs?task=ex%00port"),
        ("POST", "/api/v1/tasks/ex%00port/runs"),
    ]:
        response = api.admin.request(method, path)
        assert response.status_code == 400, (method, path, response.text)
        assert "NUL" in response.json()["detail"]
    assert run_states(api.instance) == []


def test_a_manual_or_heartbeat_task_cannot_be_queued(api: Api) -> None:
    response = api.admin.post("/api/v1/tasks/usage-review/runs")
    assert response.status_code == 409 and "sexton done" in response.json()["detail"]
    assert run_states(api.instance) == []
