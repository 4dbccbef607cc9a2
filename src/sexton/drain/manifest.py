"""The MANIFEST written beside each series in the destination: one checksum per file.

Lines are in the tagged format of coreutils (``SHA256 (name) = hex``), which names the
algorithm, so ``cd SERIES && sha256sum -c MANIFEST`` checks a series without Sexton.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..checksums import Checksum


def render_manifest(series: str, files: Iterable[tuple[str, Checksum]]) -> bytes:
    """The MANIFEST of ``series`` from (target, checksum) pairs; names relative to it."""
    cut = len(series) + 1
    lines = [
        f"{checksum.algo.upper()} ({target[cut:]}) = {checksum.hexdigest}\n"
        for target, checksum in files
    ]
    return "".join(lines).encode()
