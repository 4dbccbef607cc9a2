"""A task's own page on the dashboard, and clearing a sticky error from the dashboard and the
API (the same action as `sexton clear TASK`)."""

from __future__ import annotations

from served import Api, make_sticky


def test_task_page_shows_status_schedule_and_runs_with_links(api: Api) -> None:
    run_id = make_sticky(api, "hello")
    page = api.reader.get("/tasks/hello")
    assert page.status_code == 200
    html = page.text
    assert "every 1h" in html
    assert "checksum mismatch on clone" in html and "Needs a person" in html
    assert f'href="/runs/{run_id}"' in html
    assert 'class="pill down"' in html
    assert "/tasks/hello/clear" not in html and "Run now" not in html  # read token: no buttons
    overview = api.reader.get("/").text
    assert 'href="/tasks/hello"' in overview


def test_clear_button_needs_admin_and_brings_a_sticky_task_back(api: Api) -> None:
    make_sticky(api, "hello")
    assert api.reader.post("/tasks/hello/clear", data={"next": "/tasks/hello"}).status_code == 403
    assert "/tasks/hello/clear" in api.admin.get("/tasks/hello").text
    cleared = api.admin.post("/tasks/hello/clear", data={"next": "/tasks/hello"})
    assert cleared.status_code == 303
    assert cleared.headers["location"].startswith("/tasks/hello?message=Cleared")
    html = api.admin.get(cleared.headers["location"]).text
    assert "Cleared hello" in html and "Needs a person" not in html
    assert 'class="pill down"' not in html
    assert "/tasks/hello/clear" not in html  # nothing left to clear


def test_clear_through_the_api_returns_the_new_status(api: Api) -> None:
    make_sticky(api, "hello")
    assert api.reader.get("/api/v1/tasks/hello").json()["status"] == "down"
    response = api.admin.post("/api/v1/tasks/hello/clear")
    assert response.status_code == 200
    assert response.json()["status"] != "down" and response.json()["failures"] == 0
    assert api.admin.post("/api/v1/tasks/nope/clear").status_code == 404


def test_unknown_task_page_is_404(api: Api) -> None:
    assert api.reader.get("/tasks/no-such-task").status_code == 404
