"""A task's own page on the dashboard, and clearing a sticky error from the dashboard and the
API (the same action as `sexton clear TASK`)."""

from __future__ import annotations

from pathlib import Path

from served import Api, make_sticky

from sexton.engine.worker import Worker


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


def test_task_page_counts_the_files_a_for_each_file_command_quarantined(
    serve_api, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    for name in ("a.warc.gz", "b-bad.warc.gz", "c.warc.gz"):
        (store / name).write_bytes(b"x")
    api = serve_api(
        f"stores:\n  store: {{url: '{store.as_uri()}'}}\ntasks:\n"
        "  - {name: scan, type: scan, store: store}\n"
        "  - name: index\n    type: command\n"
        "    command: [/bin/sh, -c, 'grep -q bad \"$1\" && exit 3; true', sh, '{paths_file}']\n"
        "    for_each_file: {store: store, needs: cdx, value: coll, batch: 3}\n"
    )
    worker = Worker(api.instance.config, api.instance.book, api.instance.clock)
    for task in ("scan", "index"):
        api.instance.book.queue(task, "manual", api.instance.clock.now())
        assert worker.run_once() is not None
    html = api.reader.get("/tasks/index").text
    assert "Quarantined" in html and "1 file " in html
    assert "sexton catalog needs --failed cdx=coll" in html
    assert "Quarantined" not in api.reader.get("/tasks/scan").text  # not a for_each_file task
