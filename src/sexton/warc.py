"""Checking a WARC file from the inside: every record's digest and every gzip member.

A file checksum only proves a copy is unchanged since the checksum was taken. A WARC damaged
before that (a crawler's disk, a bad copy before ingest) hashes "fine" for ever; its own
``WARC-Block-Digest`` / ``WARC-Payload-Digest`` headers and the gzip members' CRCs still tell.
warcio reads the records and checks both.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import BinaryIO, Final

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

WARC_SUFFIXES: Final = (".warc", ".warc.gz")
READ_SIZE = 1024 * 1024  # a record's body is read through to check its digest, not kept
SHOWN = 60  # characters of a read error kept: warcio quotes the undecodable bytes at length


@dataclass(frozen=True)
class WarcDamage:
    """One problem inside a WARC file, at the byte offset of the record (or gzip member) where
    it was found."""

    offset: int
    problem: str

    def __str__(self) -> str:
        return f"WARC record at offset {self.offset}: {self.problem}"


def is_warc(path: str) -> bool:
    return path.lower().endswith(WARC_SUFFIXES)


def warc_damage(stream: BinaryIO) -> list[WarcDamage]:
    """Every digest mismatch in the WARC read from ``stream``; a gzip member or record that
    cannot be read ends the list (nothing after it can be trusted to be found)."""
    found: list[WarcDamage] = []
    records = ArchiveIterator(stream, check_digests=True)
    offset = 0
    try:
        for record in records:
            offset = records.get_record_offset()
            body = record.content_stream()
            while body.read(READ_SIZE):
                pass
            if record.digest_checker.passed is False:
                found.extend(WarcDamage(offset, p) for p in record.digest_checker.problems)
            offset = records.get_record_offset() + records.get_record_length()
    except (ArchiveLoadFailed, zlib.error, EOFError, ValueError) as exc:
        said = str(exc).encode("ascii", "replace").decode()[:SHOWN]
        found.append(WarcDamage(offset, f"unreadable record or gzip member ({said!r})"))
    return found
