"""The sample files `sexton demo` looks after: small text records and real WARC files."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

RECORDS = 5
# Flips one bit and puts the modification time back: bit rot changes neither size nor mtime,
# so a scan sees nothing and only a fixity check finds it. Once only: the clone that follows
# a repair's re-scan must not damage the file again.
BIT_ROT = """\
\"\"\"Flip one bit of FILE, keeping its size and mtime, once (MARKER says it was done).\"\"\"
import os
import sys

path, marker = sys.argv[1:]  # the marker lives outside the store, where no scan sees it
if os.path.exists(marker):
    print(path, "was damaged once already; leaving it alone")
    sys.exit(0)
stat = os.stat(path)
with open(path, "r+b") as f:
    first = f.read(1)
    f.seek(0)
    f.write(bytes([first[0] ^ 1]))
os.utime(path, (stat.st_atime, stat.st_mtime))
open(marker, "w").close()
print("damaged", path)
"""
# Each WARC holds this many captured pages: enough bytes that the small clone drive fills.
PAGES_PER_WARC = 3


def write_records(directory: Path) -> None:
    """A few small text files, the kind of metadata an archive keeps beside its WARCs."""
    directory.mkdir(parents=True, exist_ok=True)
    for number in range(RECORDS):
        (directory / f"record-{number}.txt").write_text(f"sample record {number}\n")


def write_bit_rot_script(path: Path) -> None:
    """The script the demo's ``bit-rot`` task runs, where an operator can read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BIT_ROT)


def write_warcs(directory: Path, crawl: str, count: int) -> None:
    """``count`` gzipped WARC files of HTTP responses, written by warcio as a crawler would."""
    directory.mkdir(parents=True, exist_ok=True)
    for serial in range(count):
        with (directory / f"{crawl}-{serial:05d}.warc.gz").open("wb") as out:
            writer = WARCWriter(out, gzip=True)
            for page in range(PAGES_PER_WARC):
                url = f"http://example.org/{crawl}/{serial}/{page}.html"
                body = _page(url, serial * PAGES_PER_WARC + page)
                headers = StatusAndHeaders(
                    "200 OK",
                    [("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
                    protocol="HTTP/1.1",
                )
                writer.write_record(
                    writer.create_warc_record(
                        url, "response", payload=BytesIO(body), http_headers=headers
                    )
                )


def _page(url: str, number: int) -> bytes:
    """A page whose words differ from page to page, so gzip cannot shrink the WARCs to nothing."""
    words = " ".join(f"{(number * 7919 + i * 104729) % 1000003:x}" for i in range(200))
    return f"<html><head><title>{url}</title></head><body><p>{words}</p></body></html>".encode()
