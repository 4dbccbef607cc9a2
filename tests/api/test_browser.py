"""The dashboard in a real browser (Debian's Chromium driven by Playwright): log in, see the
tasks, trigger a run and see it succeed, mark a manual duty done, open a task's page and
clear a task that is down with an error that needs a person."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from served import ADMIN_TOKEN, Api, make_sticky

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture
def working(api: Api) -> Iterator[None]:
    """A worker claiming runs in the background, as `sexton serve` would."""
    stop = threading.Event()
    worker = api.worker()

    def loop() -> None:
        while not stop.wait(0.05):
            worker.run_once()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)


def test_operator_logs_in_triggers_a_run_and_marks_a_duty_done(
    api: Api, working: None, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(api.url + "/")
        expect(page).to_have_url(api.url + "/login?next=/")
        page.fill("#token", ADMIN_TOKEN)
        page.click("button[type=submit]")
        tasks = page.locator("table.tasks")
        for name in ("hello", "export", "usage-review", "initial-sync"):
            expect(tasks).to_contain_text(name)

        page.locator("tr", has_text="hello").get_by_role("button", name="Run now").click()
        expect(page.locator(".flash")).to_contain_text("Queued run")
        hello = page.locator("table.tasks tr", has_text="hello")
        for _ in range(100):  # the page refreshes itself; reload sooner to keep the test fast
            if "succeeded" in hello.inner_text():
                break
            page.wait_for_timeout(100)
            page.reload()
        expect(hello).to_contain_text("succeeded")
        expect(hello.locator(".pill")).to_have_text("up")

        duty = page.locator(".duty", has_text="usage-review")
        duty.locator("input[name=note]").fill("checked quotas")
        duty.get_by_role("button", name="Mark done").click()
        expect(page.locator(".flash")).to_contain_text("Recorded usage-review as done")
        expect(page.locator(".duty", has_text="usage-review").locator(".pill")).to_have_text("up")
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

        hello.locator("a[href^='/runs/']").click()
        expect(page.locator("h1")).to_contain_text("of hello")
        expect(page.locator("h1")).to_contain_text("succeeded")
        page.screenshot(path=str(tmp_path / "run.png"), full_page=True)

        failed = make_sticky(api, "initial-sync")
        page.goto(api.url + "/")
        page.locator("table.tasks").get_by_role("link", name="initial-sync").click()
        expect(page.locator("h1")).to_contain_text("initial-sync")
        expect(page.locator("h1 .pill")).to_have_text("down")
        expect(page.locator("[role=alert]")).to_contain_text("checksum mismatch on clone")
        expect(page.locator(f"a[href='/runs/{failed}']").first).to_be_visible()
        page.screenshot(path=str(tmp_path / "task.png"), full_page=True)
        page.get_by_role("button", name="Clear").click()
        expect(page.locator(".flash")).to_contain_text("Cleared initial-sync")
        expect(page.locator("h1 .pill")).not_to_have_text("down")
        expect(page.get_by_role("button", name="Clear")).to_have_count(0)
        browser.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    assert (tmp_path / "task.png").stat().st_size > 10_000
