"""Notifications to a loopback webhook receiver and a local SMTP server (aiosmtpd): status
flips down and back up, damage found, retried with backoff when the receiver fails."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import event, insert, select, update

from sexton.db.catalog_tables import corrupt_files, files
from sexton.db.tables import status_changes
from sexton.engine.monitor import Monitor
from sexton.engine.service import Instance
from sexton.notify import Notifier


class Receiver(ThreadingHTTPServer):
    """Accepts webhook POSTs; fails the first ``fail_first`` of them with a 500."""

    def __init__(self, fail_first: int) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.fail_first = fail_first
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.attempts += 1
                if receiver.attempts <= receiver.fail_first:
                    self.send_response(500)
                else:
                    receiver.received.append((self.path, json.loads(body)))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def record_damage(instance: Instance, name: str) -> None:
    """A damaged copy of a new file ``name``, as a fixity check records it."""
    now = instance.clock.now()
    with instance.engine.begin() as connection:
        file_id = connection.execute(
            insert(files).values(name=name, size=10, ingested_at=now).returning(files.c.id)
        ).scalar_one()
        connection.execute(
            insert(corrupt_files).values(
                file_id=file_id,
                store="clone",
                first_seen=now,
                last_seen=now,
                expected="sha256:aa",
                actual="sha256:bb",
            )
        )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(fail_first=1)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


def test_flips_and_damage_are_sent_by_webhook_and_email(
    open_instance: Callable[..., Instance],
    receiver: Receiver,
    mailbox: tuple[Mailbox, int],
) -> None:
    box, port = mailbox
    instance = open_instance(
        "notify:\n"
        f"  webhooks: ['{receiver.url}/hook']\n"
        f"  email: {{smtp: '127.0.0.1:{port}', from: sexton@archive.test, to: ops@archive.test}}\n"
        "  backoff: 0.05s\n"
        "tasks:\n"
        "  - {name: export, type: heartbeat, every: 1h}\n"
        "  - {name: quiet, type: heartbeat, every: 1h,"
        f" notify: {{webhooks: ['{receiver.url}/quiet'], on: [up]}}}}\n"
    )
    notifier = Notifier(instance)
    monitor = Monitor(instance.config, instance.engine)
    for task in ("export", "quiet"):
        instance.book.ping(task, "fail", instance.clock.now(), 2)
    monitor.record_flips(instance.clock.now())
    sent = notifier.poll_once()
    assert [(n.event, n.task) for n in sent] == [("down", "export"), ("down", "quiet")]
    wait_for(lambda: len(receiver.received) == 1 and len(box.messages) == 1)
    assert receiver.attempts == 2  # the first delivery failed and was retried
    path, body = receiver.received[0]
    assert path == "/hook" and body["event"] == "down" and body["task"] == "export"
    assert "export is DOWN" in body["text"]
    assert "export is DOWN" in box.messages[0]["Subject"]
    assert box.messages[0]["To"] == "ops@archive.test"

    for task in ("export", "quiet"):
        instance.book.ping(task, "success", instance.clock.now(), None)
    monitor.record_flips(instance.clock.now())
    notifier.poll_once()
    wait_for(lambda: len(receiver.received) == 3)
    assert sorted((p, b["event"], b["task"]) for p, b in receiver.received[1:]) == [
        ("/hook", "up", "export"),
        ("/quiet", "up", "quiet"),
    ]

    record_damage(instance, "a/b.warc")
    notifier.poll_once()
    wait_for(lambda: len(receiver.received) == 4 and len(box.messages) == 3)
    assert receiver.received[3][1]["event"] == "corruption"
    assert receiver.received[3][1]["details"]["file"] == "a/b.warc"
    assert "a/b.warc" in box.messages[2]["Subject"]
    notifier.deliverer.close()


def test_several_schedulers_on_one_database_send_each_flip_once(
    open_instance: Callable[..., Instance], receiver: Receiver
) -> None:
    body = (
        f"notify: {{webhooks: ['{receiver.url}/hook'], backoff: 0.05s}}\n"
        "tasks:\n"
        "  - {name: export, type: heartbeat, every: 1h}\n"
    )
    schedulers = [open_instance(body), open_instance(body)]
    notifiers = [Notifier(instance) for instance in schedulers]
    sent: list[str] = []

    def poll(notifier: Notifier, start: threading.Barrier) -> None:
        start.wait()
        sent.extend(n.event for n in notifier.poll_once())

    for step, outcome in enumerate(["fail", "success", "fail", "success"]):
        instance = schedulers[step % 2]
        instance.book.ping("export", outcome, instance.clock.now(), None)
        for each in schedulers:  # both schedulers see the flip; one row records it
            Monitor(each.config, each.engine).record_flips(each.clock.now())
        if step == 3:
            record_damage(instance, "damaged.warc")
        start = threading.Barrier(len(notifiers))
        pollers = [threading.Thread(target=poll, args=(n, start)) for n in notifiers]
        for thread in pollers:
            thread.start()
        for thread in pollers:
            thread.join(30)

    assert sent.count("down") == 2 and sent.count("up") == 2 and sent.count("corruption") == 1
    wait_for(lambda: len(receiver.received) == 5)
    for notifier in notifiers:
        notifier.deliverer.close()
    events = [body["event"] for _, body in receiver.received]
    assert sorted(events) == ["corruption", "down", "down", "up", "up"]


def test_the_poll_reads_only_unclaimed_news_however_much_was_sent_before(
    open_instance: Callable[..., Instance],
) -> None:
    # A long-running scheduler's notifier has claimed every flip since it started; asking
    # "anything new?" must not read them all again every few seconds.
    instance = open_instance("tasks: []\n")
    notifier = Notifier(instance)
    record_damage(instance, "damaged.warc")
    now = instance.clock.now()
    flip = {"task": "export", "at": now, "to_status": "up", "notified_at": now}
    with instance.engine.begin() as connection:
        connection.execute(insert(status_changes), [flip] * 2000)
        (damage,) = connection.execute(select(corrupt_files)).mappings()
        again = {**damage, "notified_at": now}
        del again["id"]
        connection.execute(insert(corrupt_files), [again] * 2000)
        connection.execute(update(corrupt_files).values(notified_at=now))
        connection.exec_driver_sql("ANALYZE")
    asked: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            asked.append((statement, parameters))

    event.listen(instance.engine, "before_cursor_execute", keep)
    try:
        assert notifier.poll_once() == []
    finally:
        event.remove(instance.engine, "before_cursor_execute", keep)
    explain = "EXPLAIN" if instance.engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN"
    with instance.engine.connect() as connection:
        plans = [
            " ".join(str(row) for row in connection.exec_driver_sql(f"{explain} {q}", p))
            for q, p in asked
        ]
    assert len(plans) == 2  # flips, damage: read only, nothing claimed
    assert "ix_status_changes_unclaimed" in plans[0]
    assert "ix_corrupt_files_unclaimed" in plans[1]
