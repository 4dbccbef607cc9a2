"""Benchmark: ``create_local_clone`` against ``cp -r`` + ``sync`` and ``rclone copy --checksum``.

Not a test; nothing here is asserted. Run ``python bench/clone.py [--scale F]``.
The corpus of ``bench/fixity.py`` (2 x 1 GiB + 2,048 x 1 MiB) is copied local -> local,
source in the page cache, into a destination directory on the same filesystem (under
bench/data/), emptied and synced before each timed copy.

- ``cp -r SRC DST && sync``: the plain copy, made durable (``sync`` waits for every byte).
- ``rclone copy --checksum SRC DST``: rclone's local backend, which checks each copy's md5.
- Sexton as a user runs it: ``sexton run clone -c sexton.yaml``, the source catalogued first
  by ``sexton run scan`` with checksums (sha256, the default; not timed). Every copy is
  hashed while written to a temporary name, compared with the catalog, fsynced, renamed and
  registered. Printed: the whole command and the run alone (from its record).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from corpus import (
    DATA,
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


def fresh(destination: Path) -> Path:
    """An empty destination, with the removal of the last copy already on disk."""
    shutil.rmtree(destination, ignore_errors=True)
    subprocess.run(["sync"], check=True)
    return destination


def cp_sync(root: Path, destination: Path) -> float:
    fresh(destination)
    return timed(
        lambda: subprocess.run(f"cp -r {root} {destination} && sync", shell=True, check=True)
    )


def rclone_copy(root: Path, destination: Path) -> float:
    fresh(destination)
    command = ["rclone", "copy", "--checksum", str(root), str(destination)]
    return timed(lambda: subprocess.run(command, check=True, stderr=subprocess.DEVNULL))


def sexton_clone(directory: Path, root: Path, destination: Path) -> tuple[float, float]:
    """(whole command, run alone) seconds of one `sexton run clone` into an empty drive."""
    fresh(destination).mkdir()
    config = directory / "sexton.yaml"
    config.write_text(
        f"database: 'sqlite:///{directory / 'clone.db'}'\n"
        "stores:\n"
        f"  corpus: {{url: '{root.as_uri()}'}}\n"
        f"  drive: {{url: '{destination.as_uri()}'}}\n"
        "tasks:\n"
        "  - {name: scan, type: scan, store: corpus, checksum_new: true}\n"
        "  - {name: clone, type: create_local_clone, clone_from: corpus, clone_to: [drive],"
        " age_in_days: null}\n"
    )
    run_sexton(config, "run", "scan")
    subprocess.run(["sync"], check=True)
    whole = timed(lambda: run_sexton(config, "run", "clone"))
    return whole, last_run_seconds(config, "clone")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full corpus")
    args = parser.parse_args()

    root = build_corpus(args.scale)
    destination = DATA / "clone-destination"
    mib = corpus_bytes(root) / MIB
    warm(root)
    print(
        f"{len(corpus_files(root))} files, {mib:.0f} MiB, load average {load()}",
        flush=True,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="sexton-clone-") as tmp:
            cp = cp_sync(root, destination)
            line("cp -r + sync", cp, mib)
            rclone = None
            if shutil.which("rclone"):
                rclone = rclone_copy(root, destination)
                line("rclone copy --checksum", rclone, mib)
            else:
                print("rclone copy --checksum    (rclone not installed: apt-get install rclone)")
            sexton = sexton_clone(Path(tmp), root, destination)
            line("sexton run clone", sexton[0], mib, "(whole command)")
            line("  the run alone", sexton[1], mib)
            ratios("sexton / (cp + sync) time", sexton, (cp, cp))
            if rclone is not None:
                ratios("rclone / sexton", (rclone, rclone), sexton)
    finally:
        shutil.rmtree(destination, ignore_errors=True)
    print(f"load average at the end {load()} ({time.strftime('%H:%M:%S')})")


if __name__ == "__main__":
    main()
