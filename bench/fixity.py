"""Benchmark: ``check_integrity`` (md5) against ``md5sum`` and ``rclone md5sum``, same files.

Not a test; nothing here is asserted. Run ``python bench/fixity.py [--scale F]``.
The corpus (2 x 1 GiB + 2,048 x 1 MiB; ``--scale 0.1`` for a tenth) is written once under
bench/data/ and read once before timing, so every tool hashes from the page cache.

Sexton runs as a user runs it: ``sexton run fixity -c sexton.yaml`` on a catalog made by
``sexton run scan`` (SQLite, in a temporary directory). Two Sexton figures are printed: the
whole command (interpreter start-up, config, database included) and the run alone, as its
record shows it (``started_at`` to ``finished_at``). ``md5sum`` gets every path in one
process; ``rclone md5sum DIR`` uses its default 8 checkers. Then, per algorithm: the run
time of ``check_integrity`` in it, beside one core's hashlib (or xxhash/blake3) speed on an
in-memory buffer, which is the ceiling of one hashing thread.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from corpus import (
    MIB,
    build_corpus,
    corpus_bytes,
    corpus_files,
    last_run_seconds,
    line,
    load,
    ratios,
    timed,
    warm,
)
from corpus import sexton as run_sexton
from sexton.checksums import ALGORITHMS, DEFAULT_THREADS

ALGORITHMS_REPORTED = ("md5", "xxh3_128", "sha256", "blake3")
ONE_CORE_BUFFER = 256 * MIB


def write_config(directory: Path, root: Path, algorithm: str) -> Path:
    config = directory / f"sexton-{algorithm}.yaml"
    config.write_text(
        f"database: 'sqlite:///{directory / algorithm}.db'\n"
        "stores:\n"
        f"  corpus: {{url: '{root.as_uri()}'}}\n"
        "tasks:\n"
        "  - {name: scan, type: scan, store: corpus}\n"
        "  - {name: fixity, type: check_integrity, store_name: corpus, age_in_days: null,"
        f" algorithm: {algorithm}}}\n"
    )
    return config


def sexton_check(directory: Path, root: Path, algorithm: str) -> tuple[float, float]:
    """(whole command, run alone) seconds of the second check: the first records checksums."""
    config = write_config(directory, root, algorithm)
    run_sexton(config, "run", "scan")
    run_sexton(config, "run", "fixity")
    whole = timed(lambda: run_sexton(config, "run", "fixity"))
    return whole, last_run_seconds(config, "fixity")


def one_core_speed(algorithm: str) -> float:
    """MiB/s of one thread hashing an in-memory buffer: no I/O, no parallelism."""
    data = os.urandom(ONE_CORE_BUFFER)
    h = ALGORITHMS[algorithm]()
    seconds = timed(lambda: h.update(data))
    return ONE_CORE_BUFFER / MIB / seconds


def tool_seconds(command: list[str]) -> float:
    def run() -> None:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    run()  # warm its code paths too
    return timed(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full corpus")
    args = parser.parse_args()

    root = build_corpus(args.scale)
    paths = [str(p) for p in corpus_files(root)]
    mib = corpus_bytes(root) / MIB
    warm(root)
    print(
        f"{len(paths)} files, {mib:.0f} MiB, {os.cpu_count()} CPUs, "
        f"{DEFAULT_THREADS} hashing threads, load average {load()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="sexton-fixity-") as tmp:
        directory = Path(tmp)
        md5sum = tool_seconds(["md5sum", *paths])
        line("md5sum (one process)", md5sum, mib)
        rclone = None
        if shutil.which("rclone"):
            rclone = tool_seconds(["rclone", "md5sum", str(root)])
            line("rclone md5sum", rclone, mib)
        else:
            print("rclone md5sum             (rclone not installed: apt-get install rclone)")
        sexton = sexton_check(directory, root, "md5")
        line("sexton run fixity (md5)", sexton[0], mib, "(whole command)")
        line("  the run alone", sexton[1], mib)
        ratios("md5sum / sexton", (md5sum, md5sum), sexton)
        if rclone is not None:
            ratios("rclone / sexton", (rclone, rclone), sexton)
        print(f"\n{'algorithm':<10} {'run':>8} {'MiB/s':>7} {'one core':>9}  (check_integrity)")
        for algorithm in ALGORITHMS_REPORTED:
            _whole, alone = sexton_check(directory, root, algorithm)
            core = one_core_speed(algorithm)
            print(f"{algorithm:<10} {alone:>7.2f}s {mib / alone:>7.0f} {core:>7.0f}", flush=True)
    print(f"load average at the end {load()} ({time.strftime('%H:%M:%S')})")


if __name__ == "__main__":
    main()
