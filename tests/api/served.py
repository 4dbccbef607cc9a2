"""The API under test as the tests reach it: tokens, the test config, HTTP clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx

from sexton.engine.runbook import Outcome
from sexton.engine.service import Instance
from sexton.engine.worker import Worker

ADMIN_TOKEN = "admin-secret-token"
READ_TOKEN = "read-only-token"
SITE_TOKEN = "other-site-token"
API = (
    f"api: {{listen: '127.0.0.1:0', "
    f"tokens: {{admin: {ADMIN_TOKEN}, read: {READ_TOKEN}, site: {SITE_TOKEN}}}}}\n"
)

TASKS = """\
tasks:
  - {name: hello, type: test_note, every: 1h, items: 3}
  - {name: holder, type: test_wait}
  - {name: export, type: heartbeat, every: 1h}
  - {name: usage-review, type: manual, every: 1d}
  - {name: initial-sync, type: test_note, executor: external}
  - {name: healing, type: test_note, executor: external, requires: [initial-sync]}
  - {name: dump, type: test_note, executor: external, exclusive_with: [healing]}
"""


@dataclass
class Api:
    """A running server and clients for it: without a token, with the read and admin ones."""

    url: str
    instance: Instance
    anonymous: httpx.Client
    reader: httpx.Client
    admin: httpx.Client

    def worker(self) -> Worker:
        instance = self.instance
        return Worker(instance.config, instance.book, instance.clock, name="test-worker")


def client(url: str, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, headers=headers, timeout=30, follow_redirects=False)


def make_sticky(api: Api, task: str) -> int:
    """A run of ``task`` that failed with an error a person must look at; returns its id.
    Claimed here with the task's executor, so a background worker does not take it first
    when the task is external."""
    book, now = api.instance.book, api.instance.clock.now()
    book.queue(task, "manual", now)
    executor = api.instance.config.task(task).executor
    claimed = book.claim([task], "test-worker", now, timedelta(seconds=30), executor=executor)
    assert claimed is not None
    book.finish(claimed, Outcome("failed", "checksum mismatch on clone", sticky=True), now)
    return claimed.id


RUN_KEYS = {
    "id",
    "task",
    "slot",
    "reason",
    "state",
    "attempt",
    "queued_at",
    "started_at",
    "finished_at",
    "worker",
    "items",
    "bytes",
    "error",
}
