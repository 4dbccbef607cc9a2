"""Two real Sexton sites on loopback for the transfer tests: each a `sexton serve` process
with its own database and stores, driven with `sexton run TASK` as an operator would."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from sexton.db import connect
from sexton.db.catalog_tables import files, instances, remote_instances, transfers
from sexton.db.tables import run_events
from sexton.stores.paths import TEMP_PREFIX
from sexton.transfer.messages import CHECKSUM_HEADER

SEXTON = [sys.executable, "-m", "sexton"]
ADMIN = "admin-token"
READ = "read-token"
# Each site accepts the other's token under `site`; the sender's comes from the environment.
TO_DESTINATION = "token-for-the-destination"
TO_SOURCE = "token-for-the-source"
CALLS = "attempts: 4, backoff: 0.2s, max_backoff: 1s, timeout: 20s"  # patient, not slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    """One site: config, database, stores and (while started) its `sexton serve` process."""

    name: str
    root: Path
    database: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    log: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config(self) -> Path:
        return self.root / "sexton.yaml"

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    def write_config(self, body: str) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir(parents=True, exist_ok=True)
        body = body.replace("{root}", str(self.root))
        self.config.write_text(
            f"database: '{self.database}'\n"
            f"site: {self.name}\n"
            f"api: {{listen: '127.0.0.1:{self.port}', "
            f"tokens: {{admin: {ADMIN}, read: {READ}, site: ['${{SITE_TOKEN_IN}}']}}}}\n"
            "scheduler: {poll: 0.2s}\n"
            "worker: {poll: 0.05s}\n" + body
        )

    def environ(self) -> dict[str, str]:
        incoming = TO_DESTINATION if self.name == "destination" else TO_SOURCE
        return {
            **os.environ,
            "SITE_TOKEN_IN": incoming,
            "TO_DESTINATION": TO_DESTINATION,
            "TO_SOURCE": TO_SOURCE,
        }

    def start(self) -> None:
        out = self.root / f"serve-{len(self.log)}.log"
        self.log.append(out)
        self.process = subprocess.Popen(
            [*SEXTON, "serve", "-c", str(self.config)],
            stdout=out.open("wb"),
            stderr=subprocess.STDOUT,
            env=self.environ(),
        )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, out.read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the site did not start"
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def run(self, task: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`sexton run TASK --json` in the foreground; with ``check``, it must succeed."""
        done = subprocess.run(
            [*SEXTON, "run", task, "--json", "-c", str(self.config)],
            capture_output=True,
            text=True,
            env=self.environ(),
            timeout=300,
        )
        if check:
            assert done.returncode == 0, f"{task}: {done.stdout}\n{done.stderr}"
        return done

    def transfers(self, *options: str) -> list[dict[str, Any]]:
        """What `sexton transfers --json [OPTIONS]` lists."""
        listed = subprocess.run(
            [*SEXTON, "transfers", "--json", *options, "-c", str(self.config)],
            capture_output=True,
            text=True,
            env=self.environ(),
            check=True,
        )
        shown: list[dict[str, Any]] = json.loads(listed.stdout)
        return shown

    def clear(self, task: str) -> None:
        """`sexton clear TASK`: a person has looked."""
        subprocess.run(
            [*SEXTON, "clear", task, "-c", str(self.config)],
            capture_output=True,
            env=self.environ(),
            check=True,
        )

    def trigger(self, task: str, expect: str | None = "succeeded") -> dict[str, Any]:
        """Queue a run through the API and wait for the serving process to finish it."""
        with self.client(ADMIN) as api:
            response = api.post(f"/api/v1/tasks/{task}/runs")
            assert response.status_code == 202, response.text
            run_id = response.json()["id"]
            deadline = time.monotonic() + 300
            while True:
                run = api.get(f"/api/v1/runs/{run_id}").json()
                if run["state"] not in ("queued", "running"):
                    break
                assert time.monotonic() < deadline, f"{task} did not finish"
                time.sleep(0.1)
        if expect is not None:
            assert run["state"] == expect, run
        return dict(run)

    def start_run(self, task: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*SEXTON, "run", task, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.environ(),
        )

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    # -- what the database holds -------------------------------------------------------------

    def rows(self, query: Any) -> list[Any]:
        engine = connect(self.database)
        try:
            with engine.connect() as connection:
                return list(connection.execute(query).all())
        finally:
            engine.dispose()

    def present_copies(self) -> dict[str, int]:
        """File name -> present copies."""
        query = (
            sa.select(files.c.name, sa.func.count())
            .join(instances, instances.c.file_id == files.c.id)
            .where(instances.c.state == "present")
            .group_by(files.c.name)
        )
        return {name: n for name, n in self.rows(query)}

    def confirmed_remote(self, site: str) -> dict[str, str]:
        """File name -> confirmed checksum at ``site``."""
        query = (
            sa.select(files.c.name, remote_instances.c.checksum)
            .join(remote_instances, remote_instances.c.file_id == files.c.id)
            .where(remote_instances.c.site == site, remote_instances.c.checksum.is_not(None))
        )
        return {name: checksum for name, checksum in self.rows(query)}

    def transfer_states(self, direction: str) -> list[tuple[str, str]]:
        query = (
            sa.select(transfers.c.name, transfers.c.state)
            .where(transfers.c.direction == direction)
            .order_by(transfers.c.id)
        )
        return [(n, s) for n, s in self.rows(query)]

    def checksums(self) -> dict[str, str]:
        return {n: c for n, c in self.rows(sa.select(files.c.name, files.c.checksum))}

    def incoming(self) -> dict[str, int]:
        """File name -> id of its latest incoming transfer (where its bytes are uploaded)."""
        query = sa.select(transfers.c.name, transfers.c.id).where(
            transfers.c.direction == "incoming"
        )
        return {name: id_ for name, id_ in self.rows(query.order_by(transfers.c.id))}

    def events(self, task: str) -> list[str]:
        query = (
            sa.select(run_events.c.message)
            .where(run_events.c.task == task, run_events.c.message.is_not(None))
            .order_by(run_events.c.id)
        )
        return [message for (message,) in self.rows(query)]


def temporary_files(root: Path) -> list[Path]:
    """Unfinished writes under ``root``: what an upload is writing, or a killed one left."""
    return sorted(root.rglob(f"{TEMP_PREFIX}*"))


def wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@contextmanager
def half_upload(site: Site, incoming_id: int, data: bytes, checksum: str) -> Iterator[None]:
    """Upload ``data`` to ``site`` as its source would, but send only the first half and
    hold the connection open until the block ends; then drop it, as a killed client would.
    The site is writing a temporary file for it by the time the block begins."""
    before = set(temporary_files(site.staging))
    head = (
        f"PUT /api/v1/transfers/incoming/{incoming_id}/data HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{site.port}\r\n"
        f"Authorization: Bearer {TO_DESTINATION}\r\n"
        f"{CHECKSUM_HEADER}: {checksum}\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", site.port), timeout=30) as connection:
        connection.sendall(head.encode() + data[: len(data) // 2])
        wait_for(lambda: set(temporary_files(site.staging)) - before, "the upload to begin")
        yield


def write_files(root: Path, count: int, size: int = 2000) -> dict[str, bytes]:
    """``count`` small files of distinct content under ``root``, in a few directories."""
    written = {}
    for i in range(count):
        name = f"d{i % 5}/file-{i:04d}.warc"
        data = (f"{i}:".encode() * (size // 2 + 1))[: size + i]
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
        written[name] = data
    return written


SENDER = "{name: sender, type: send_clone, destination: destination, send_batch_size: 64}"
CONSUMER = "{name: consumer, type: consume_queue, retry_backoff: 0s}"
STORES = "store: {url: 'file://{root}/store'}, staging: {url: 'file://{root}/staging'}"


def source_head(destination: Site) -> str:
    """The source's sites and stores, without tasks."""
    return (
        f"sites: {{destination: {{url: '{destination.url}', token: '${{TO_DESTINATION}}', "
        f"{CALLS}}}}}\n"
        f"stores: {{{STORES}}}\n"
    )


def source_body(destination: Site, sender: str = SENDER, consumer: str = CONSUMER) -> str:
    return source_head(destination) + (
        "tasks:\n"
        "  - {name: scan, type: scan, store: store, checksum_new: true}\n"
        f"  - {sender}\n"
        f"  - {consumer}\n"
        "  - {name: checker, type: check_consumed_queue}\n"
        "  - {name: hypervisor, type: transfer_hypervisor, age_in_days: 0}\n"
    )


def destination_head(source: Site, store: str = "{url: 'file://{root}/store'}") -> str:
    """The destination's sites, stores and where it receives, without tasks."""
    return (
        f"sites: {{source: {{url: '{source.url}', token: '${{TO_SOURCE}}', {CALLS}}}}}\n"
        f"stores: {{store: {store}, staging: {{url: 'file://{{root}}/staging'}}}}\n"
        "transfer: {staging: staging, store: store}\n"
    )


def destination_body(source: Site, store: str = "{url: 'file://{root}/store'}") -> str:
    return destination_head(source, store) + (
        "tasks:\n  - {name: receiver, type: receive_clone, deletion_policy: DISALLOWED}\n"
    )


def prepare(
    source: Site,
    destination: Site,
    count: int,
    destination_store: str | None = None,
    sender: str = SENDER,
) -> dict[str, bytes]:
    """Both sites configured and serving, with ``count`` files written and scanned at the
    source; returns the files' bytes by name."""
    source.write_config(source_body(destination, sender))
    destination.write_config(
        destination_body(source, destination_store)
        if destination_store
        else destination_body(source)
    )
    written = write_files(source.store, count)
    source.start()
    destination.start()
    source.trigger("scan")
    return written


def assert_arrived_once(source: Site, destination: Site, written: dict[str, bytes]) -> None:
    """Every file is at the destination once, with its bytes, and confirmed at the source."""
    assert destination.present_copies() == {name: 1 for name in written}
    for name, data in written.items():
        assert (destination.store / name).read_bytes() == data
    assert destination.checksums() == source.checksums()
    assert source.confirmed_remote("destination") == source.checksums()
    assert source.present_copies() == {name: 1 for name in written}  # the source keeps its own


@pytest.fixture
def two_sites(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Site, Site]]:
    """Two sites, each a real `sexton serve`: the source on SQLite, the destination on
    PostgreSQL (``postgres_url`` is tests/conftest.py's)."""
    source_root = tmp_path / "source"
    source_root.mkdir()
    source = Site("source", source_root, f"sqlite:///{source_root / 'sexton.db'}", free_port())
    destination = Site("destination", tmp_path / "destination", postgres_url, free_port())
    yield source, destination
    for site in (source, destination):
        site.stop()
