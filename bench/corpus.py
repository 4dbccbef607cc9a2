"""The data-care benchmarks' corpus (2 x 1 GiB + 2,048 x 1 MiB) and their shared helpers.

Imported by ``bench/fixity.py`` and ``bench/clone.py`` (run as scripts, so ``bench/`` is on
the import path). The corpus is written once under ``bench/data/`` and reused; ``--scale``
shrinks both the big files and the number of small ones, for a quick run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

DATA = Path(__file__).parent / "data"
MIB = 1024 * 1024
BIG_FILES = 2
BIG_MIB = 1024
SMALL_FILES = 2048
SMALL_MIB = 1
SEXTON = str(Path(sys.executable).parent / "sexton")


def build_corpus(scale: float) -> Path:
    """The corpus at ``scale``, made once (renamed when complete); distinct random content."""
    root = DATA / f"corpus-{scale:g}"
    if root.is_dir():
        return root
    partial = DATA / f"corpus-{scale:g}.partial"
    block = os.urandom(MIB)
    big_mib = max(1, round(BIG_MIB * scale))
    small = max(1, round(SMALL_FILES * scale))
    files = [(f"big/big-{i}.warc.gz", big_mib) for i in range(BIG_FILES)]
    files += [(f"small/{i // 256:02d}/small-{i:04d}.warc.gz", SMALL_MIB) for i in range(small)]
    for index, (name, mib) in enumerate(files):
        path = partial / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            for chunk in range(mib):  # a unique head per MiB, so no two files or chunks match
                f.write(index.to_bytes(8, "big") + chunk.to_bytes(8, "big") + block[16:])
    partial.rename(root)
    return root


def corpus_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def corpus_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in corpus_files(root))


def warm(root: Path) -> None:
    """Read every file once, so the timed runs measure hashing and copying, not the disk."""
    for path in corpus_files(root):
        with path.open("rb") as f:
            while f.read(8 * MIB):
                pass


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def sexton(config: Path, *args: str) -> str:
    """Run the ``sexton`` command as a user would; its stdout. Fails loudly on a non-zero exit."""
    done = subprocess.run(
        [SEXTON, *args, "-c", str(config)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"sexton {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


def last_run_seconds(config: Path, task: str) -> float:
    """How long the task's newest run took, from its own record (start-up excluded)."""
    (run,) = json.loads(sexton(config, "runs", task, "--limit", "1", "--json"))
    started = datetime.fromisoformat(run["started_at"])
    return (datetime.fromisoformat(run["finished_at"]) - started).total_seconds()


def line(label: str, seconds: float, mib: float, note: str = "") -> None:
    """One timed figure: what, seconds, MiB/s."""
    print(f"{label:<26}{seconds:7.2f} s  {mib / seconds:6.0f} MiB/s  {note}".rstrip(), flush=True)


def ratios(label: str, numerator: tuple[float, float], denominator: tuple[float, float]) -> None:
    """A ratio against Sexton's whole command and against its run alone."""
    whole, alone = (n / d for n, d in zip(numerator, denominator, strict=True))
    print(f"{label:<26}{whole:5.2f}x whole command, {alone:5.2f}x run alone")


def load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())
