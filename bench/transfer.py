"""Benchmark: a transfer between two Sexton sites against ``rclone copy`` into
``rclone serve webdav``, both on loopback.

Not a test; nothing here is asserted. Run ``python bench/transfer.py [--scale F]
[--rounds N] [--postgres]``; each round times rclone, then Sexton, and prints their ratio
(the median too, with more than one round: on a shared machine the load moves between them).
The corpus of ``bench/fixity.py`` (2 x 1 GiB + 2,048 x 1 MiB), in the page cache, is sent
from one site to another; the receiving directories are under bench/data/ (the same
filesystem as the corpus), emptied and synced before each timed copy.

- rclone: ``rclone serve webdav DIR`` on a loopback port, then ``rclone copy SRC :webdav:``
  (``vendor=rclone``; rclone compares sizes after each upload; the WebDAV server offers no
  hash to compare, so nothing is hashed at either end).
- Sexton: two ``sexton serve`` processes (a source and a destination, SQLite each, or
  PostgreSQL for the destination with ``--postgres``), the source catalogued once by
  ``sexton run scan`` with sha256 checksums (not timed; each round starts from a copy).
  Timed: from queuing ``send_clone`` at the source to the end of ``receive_clone`` at the
  destination, each run queued through the API once the one before it ended: send_clone
  offers the files in batches, consume_queue streams each one over HTTP (hashed as read at
  the source, hashed as it arrives at the destination, kept in staging only if it matches),
  receive_clone verifies each staged file again, moves it into the store, registers it and
  calls the source back, which records a confirmed remote instance. Printed: the whole
  chain, and each run as its record shows it.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

import httpx

from corpus import (
    DATA,
    MIB,
    SEXTON,
    build_corpus,
    corpus_bytes,
    corpus_files,
    line,
    load,
    timed,
    warm,
)
from corpus import sexton as run_sexton
from dispatch import PG_URL, throwaway_schema

ADMIN = "bench-admin"
TO_DESTINATION = "bench-to-destination"
TO_SOURCE = "bench-to-source"
CALLS = "attempts: 4, backoff: 0.5s, max_backoff: 5s, timeout: 300s"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh(directory: Path) -> Path:
    """An empty directory, with the removal of the last copy already on disk."""
    shutil.rmtree(directory, ignore_errors=True)
    subprocess.run(["sync"], check=True)
    directory.mkdir(parents=True)
    return directory


@contextmanager
def serving(command: list[str], url: str, log: Path) -> Iterator[None]:
    """A server process, up once ``url`` answers; stopped (SIGTERM) afterwards."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{command[0]} ended: {log.read_text()[-2000:]}")
            try:
                httpx.get(url, timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{' '.join(command)} did not start") from None
                time.sleep(0.2)
        yield
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def rclone_webdav(root: Path, destination: Path, logs: Path) -> float:
    port = free_port()
    fresh(destination)
    served = ["rclone", "serve", "webdav", str(destination), "--addr", f"127.0.0.1:{port}"]
    remote = f":webdav,url='http://127.0.0.1:{port}',vendor=rclone:"
    with serving(served, f"http://127.0.0.1:{port}/", logs / "rclone-serve.log"):
        command = ["rclone", "copy", str(root), remote]
        return timed(lambda: subprocess.run(command, check=True, stderr=subprocess.DEVNULL))


class Site:
    """One Sexton site of the benchmark: its config and its ``sexton serve`` process."""

    def __init__(self, name: str, root: Path, port: int) -> None:
        self.name = name
        self.root = root
        self.url = f"http://127.0.0.1:{port}"
        self.config = root / "sexton.yaml"
        self.port = port

    def write_config(self, database: str, body: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        incoming = TO_DESTINATION if self.name == "destination" else TO_SOURCE
        self.config.write_text(
            f"database: '{database}'\n"
            f"site: {self.name}\n"
            f"api: {{listen: '127.0.0.1:{self.port}', "
            f"tokens: {{admin: {ADMIN}, site: [{incoming}]}}}}\n"
            "scheduler: {poll: 0.2s}\n"
            "worker: {poll: 0.05s}\n" + body
        )

    @contextmanager
    def serving(self) -> Iterator[None]:
        command = [SEXTON, "serve", "-c", str(self.config)]
        with serving(command, f"{self.url}/healthz", self.root / "serve.log"):
            yield

    def trigger(self, task: str) -> float:
        """Queue a run of ``task`` and wait for it; the run's own seconds (start to finish)."""
        headers = {"Authorization": f"Bearer {ADMIN}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=60) as api:
            response = api.post(f"/api/v1/tasks/{task}/runs")
            response.raise_for_status()
            run_id = response.json()["id"]
            while True:
                run = api.get(f"/api/v1/runs/{run_id}").json()
                if run["state"] not in ("queued", "running"):
                    break
                time.sleep(0.05)
        if run["state"] != "succeeded":
            raise SystemExit(f"{self.name}: {task} {run['state']}: {run}")
        started = datetime.fromisoformat(run["started_at"])
        return (datetime.fromisoformat(run["finished_at"]) - started).total_seconds()


def source_body(root: Path, destination: Site) -> str:
    return (
        f"sites: {{destination: {{url: '{destination.url}', token: {TO_DESTINATION}, "
        f"{CALLS}}}}}\n"
        f"stores: {{corpus: {{url: '{root.as_uri()}'}}}}\n"
        "tasks:\n"
        "  - {name: scan, type: scan, store: corpus, checksum_new: true}\n"
        "  - {name: sender, type: send_clone, destination: destination, age_in_days: null}\n"
        "  - {name: consumer, type: consume_queue}\n"
    )


def catalogue(directory: Path, root: Path) -> Path:
    """A source catalog of the corpus with sha256 checksums (made once, copied per round)."""
    site = Site("source", directory / "catalogued", free_port())
    database = site.root / "source.db"
    site.write_config(f"sqlite:///{database}", source_body(root, site))
    run_sexton(site.config, "run", "scan")
    return database


def sexton_transfer(
    directory: Path, root: Path, catalog: Path, received: Path, destination_database: str
) -> tuple[float, dict[str, float]]:
    """(whole chain seconds, each run's seconds) of sending the corpus to an empty site."""
    fresh(received)
    (received / "store").mkdir()
    (received / "staging").mkdir()
    source = Site("source", directory / "source", free_port())
    destination = Site("destination", directory / "destination", free_port())
    source.write_config(f"sqlite:///{source.root / 'source.db'}", source_body(root, destination))
    with sqlite3.connect(catalog) as copied, sqlite3.connect(source.root / "source.db") as copy:
        copied.backup(copy)
    destination.write_config(
        destination_database or f"sqlite:///{destination.root / 'destination.db'}",
        f"sites: {{source: {{url: '{source.url}', token: {TO_SOURCE}, {CALLS}}}}}\n"
        f"stores: {{store: {{url: '{(received / 'store').as_uri()}'}}, "
        f"staging: {{url: '{(received / 'staging').as_uri()}'}}}}\n"
        "transfer: {staging: staging, store: store}\n"
        "tasks:\n  - {name: receiver, type: receive_clone}\n",
    )
    subprocess.run(["sync"], check=True)
    runs: dict[str, float] = {}
    with source.serving(), destination.serving():
        start = time.perf_counter()
        runs["send_clone"] = source.trigger("sender")
        runs["consume_queue"] = source.trigger("consumer")
        runs["receive_clone"] = destination.trigger("receiver")
        whole = time.perf_counter() - start
    return whole, runs


def one_round(
    directory: Path, root: Path, catalog: Path, received: Path, args: argparse.Namespace
) -> tuple[float, float]:
    """rclone, then Sexton, into empty directories; (rclone seconds or 0, Sexton seconds)."""
    mib = corpus_bytes(root) / MIB
    directory.mkdir()
    rclone = 0.0
    if shutil.which("rclone"):
        rclone = rclone_webdav(root, received, directory)
        line("rclone copy -> webdav", rclone, mib)
    else:
        print("rclone copy -> webdav     (rclone not installed: apt-get install rclone)")
    with ExitStack() as stack:
        database = stack.enter_context(throwaway_schema("transfer")) if args.postgres else ""
        whole, runs = sexton_transfer(directory, root, catalog, received, database)
    line("sexton send -> receive", whole, mib, "(the whole chain)")
    for task, seconds in runs.items():
        line(f"  {task}", seconds, mib)
    if rclone:
        print(f"{'sexton / rclone':<26}{rclone / whole:5.2f}x throughput", flush=True)
    return rclone, whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full corpus")
    parser.add_argument("--rounds", type=int, default=1, help="rclone then Sexton, N times")
    parser.add_argument(
        "--postgres", action="store_true", help=f"the destination on PostgreSQL ({PG_URL})"
    )
    args = parser.parse_args()

    root = build_corpus(args.scale)
    mib = corpus_bytes(root) / MIB
    warm(root)
    print(f"{len(corpus_files(root))} files, {mib:.0f} MiB, load average {load()}", flush=True)
    received = DATA / "transfer-destination"
    pairs: list[tuple[float, float]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="sexton-transfer-", dir=DATA) as tmp:
            catalog = catalogue(Path(tmp), root)
            for round_ in range(1, args.rounds + 1):
                if args.rounds > 1:
                    print(f"round {round_}, load average {load()}", flush=True)
                pairs.append(
                    one_round(Path(tmp) / f"round-{round_}", root, catalog, received, args)
                )
    finally:
        shutil.rmtree(received, ignore_errors=True)
    if len(pairs) > 1 and all(rclone for rclone, _ in pairs):
        ratio = statistics.median(rclone / sexton for rclone, sexton in pairs)
        print(f"{'sexton / rclone, median':<26}{ratio:5.2f}x throughput")
    print(f"load average at the end {load()} ({time.strftime('%H:%M:%S')})")


if __name__ == "__main__":
    main()
