"""Crash safety of cloning (DESIGN §5, invariants 2 and 3): ``sexton run`` SIGKILLed at
random moments, rerun, and checked after every kill.

Kill moments are chosen by progress (a random number of files further on, plus a random
few milliseconds) rather than by wall time, so they land mid-work however slow the host is.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from catalog.conftest import catalog_of, run_task
from sexton.clock import SystemClock
from sexton.config import load_config
from sexton.engine.service import Instance
from sexton.stores.paths import is_temp_name
from sexton.tasks import registry

CORPUS = 300  # files
# 20 in CI; more with SEXTON_CRASH_TRIALS (each trial costs a process start, ~1-2 s).
TRIALS = int(os.environ.get("SEXTON_CRASH_TRIALS", "20"))
LEASE = 0.5  # seconds: a killed run's lease expires quickly, so the rerun is not refused
DRIVES = ("drive1", "drive2")


def write_corpus(root: Path, rng: random.Random) -> dict[str, bytes]:
    corpus = {
        f"d{i % 7}/f{i:04d}.warc": rng.randbytes(rng.randint(1, 48_000)) for i in range(CORPUS)
    }
    for name, data in corpus.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
        os.utime(root / name, (time.time() - 86_400,) * 2)
    return corpus


def files_under(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file()}


def check_invariants(instance: Instance, tmp_path: Path, corpus: dict[str, bytes]) -> int:
    """Assert invariants 2 and 3 hold now; return how many files have their clone."""
    sha = {name: f"sha256:{hashlib.sha256(data).hexdigest()}" for name, data in corpus.items()}
    for name, path in files_under(tmp_path / "store").items():
        assert path.read_bytes() == corpus[name]  # the source is never touched
    catalog = catalog_of(instance)
    cloned = 0
    for name in corpus:
        shown = catalog.show(name)
        registered = [i for i in shown.instances if i.store in DRIVES and i.state == "present"]
        assert len(registered) <= 1, registered  # one copy across all the drives
        for copy in registered:
            assert not is_temp_name(copy.path.rsplit("/", 1)[-1])
            assert copy.verified_checksum == sha[name]
            assert (tmp_path / copy.store / copy.path).read_bytes() == corpus[name]
        cloned += len(registered)
    for drive in DRIVES:
        for name, path in files_under(tmp_path / drive).items():
            if not is_temp_name(path.name):  # anything under a final name is complete
                assert path.read_bytes() == corpus[name], f"{drive}:{name} is not whole"
    return cloned


@pytest.fixture
def crash_site(tmp_path: Path, database_url: str) -> tuple[Path, Instance, dict[str, bytes]]:
    rng = random.Random(os.environ.get("SEXTON_CRASH_SEED", "4"))
    for store in ("store", *DRIVES):
        (tmp_path / store).mkdir()
    corpus = write_corpus(tmp_path / "store", rng)
    half = sum(len(d) for d in corpus.values()) // 2
    config = tmp_path / "sexton.yaml"
    config.write_text(
        f"database: '{database_url}'\n"
        f"worker: {{lease: {LEASE}s}}\n"
        "stores:\n"
        f"  store: {{url: '{(tmp_path / 'store').as_uri()}'}}\n"
        f"  drive1: {{url: '{(tmp_path / 'drive1').as_uri()}', capacity: {half}}}\n"
        f"  drive2: {{url: '{(tmp_path / 'drive2').as_uri()}'}}\n"
        "tasks:\n"
        "  - {name: scan, type: scan, store: store, checksum_new: true}\n"
        "  - {name: clone, type: create_local_clone, clone_from: store,"
        " clone_to: [drive1, drive2], disable_store_on_full: true}\n"
    )
    instance = Instance.open(load_config(config, registry.task_class), SystemClock())
    assert run_task(instance, "scan") == "succeeded"
    yield config, instance, corpus
    instance.engine.dispose()


def clone_process(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sexton", "run", "clone", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_after(process: subprocess.Popen[bytes], root: Path, files: int, delay: float) -> None:
    """SIGKILL once ``files`` more entries (temporary or final) appear on the drives, plus
    ``delay`` seconds, or when the process ends by itself."""

    def count() -> int:
        return sum(len(files_under(root / d)) for d in DRIVES)

    target = count() + files
    deadline = time.monotonic() + 60
    while process.poll() is None and count() < target and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.timeout(600)  # a loaded CI host starts Python slowly; the trials stay few
def test_clone_killed_at_random_moments_loses_nothing_and_completes(crash_site, tmp_path):
    config, instance, corpus = crash_site
    rng = random.Random(7)
    for _trial in range(TRIALS):
        before = check_invariants(instance, tmp_path, corpus)
        step = rng.randint(0, max(1, 2 * (CORPUS - before) // TRIALS))
        kill_after(clone_process(config), tmp_path, step, rng.uniform(0, 0.02))
        check_invariants(instance, tmp_path, corpus)
        time.sleep(LEASE)  # let the killed run's lease lapse, then reap it as a worker would
        instance.book.reap(instance.clock.now() + timedelta(seconds=LEASE))

    final = clone_process(config)
    _out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()
    assert check_invariants(instance, tmp_path, corpus) == CORPUS
