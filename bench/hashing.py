"""Benchmark: Sexton's parallel hasher against ``md5sum`` / ``sha256sum`` on the same files.

Not a test; nothing here is asserted. Run ``python bench/hashing.py [--files N] [--size MiB]``.
The files are written once into a temporary directory (or ``--dir``) and reused across runs;
each tool hashes them once to warm the page cache before timing, so both measure hashing,
not disk reads.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sexton.checksums import DEFAULT_THREADS, hash_files_parallel

TOOLS = {"md5": "md5sum", "sha256": "sha256sum"}


def make_files(directory: Path, count: int, size_mib: int) -> list[Path]:
    """Random-content files of the given size, created only if missing or of another size."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"bench-{i}.bin" for i in range(count)]
    block = os.urandom(1024 * 1024)
    for path in paths:
        if not path.exists() or path.stat().st_size != size_mib * 1024 * 1024:
            with path.open("wb") as f:
                for _ in range(size_mib):
                    f.write(block)
    return paths


def timed(run: Callable[[], object]) -> float:
    run()  # warm the page cache and the code paths
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--size", type=int, default=256, help="MiB per file")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "sexton-bench")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    args = parser.parse_args()

    paths = make_files(args.dir, args.files, args.size)
    total_mib = args.files * args.size
    print(f"{args.files} files x {args.size} MiB, {args.threads} threads, {os.cpu_count()} CPUs")
    print(f"{'algorithm':<10} {'tool':>10} {'sexton x1':>10} {'sexton xN':>10} {'ratio':>7}")
    for algo, tool in TOOLS.items():
        if shutil.which(tool) is None:
            print(f"{algo:<10} ({tool} not installed)")
            continue
        tool_s = timed(lambda t=tool: subprocess.run([t, *paths], check=True, capture_output=True))
        one_s = timed(lambda a=algo: list(hash_files_parallel(paths, [a], threads=1)))
        many_s = timed(lambda a=algo: list(hash_files_parallel(paths, [a], threads=args.threads)))
        print(
            f"{algo:<10} {tool_s:>9.2f}s {one_s:>9.2f}s {many_s:>9.2f}s "
            f"{tool_s / many_s:>6.2f}x   ({total_mib / many_s:.0f} MiB/s; ratio = tool / sexton)"
        )
    for algo in ("xxh3_128", "blake3"):
        one_s = timed(lambda a=algo: list(hash_files_parallel(paths, [a], threads=1)))
        many_s = timed(lambda a=algo: list(hash_files_parallel(paths, [a], threads=args.threads)))
        speed_up = one_s / many_s
        print(f"{algo:<10} {'-':>10} {one_s:>9.2f}s {many_s:>9.2f}s   (speed-up {speed_up:.2f})")


if __name__ == "__main__":
    main()
