"""The sample files `sexton demo` looks after: small text records and real WARC files."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

RECORDS = 5
# Each WARC holds this many captured pages: enough bytes that the small clone drive fills.
PAGES_PER_WARC = 3


def write_records(directory: Path) -> None:
    """A few small text files, the kind of metadata an archive keeps beside its WARCs."""
    directory.mkdir(parents=True, exist_ok=True)
    for number in range(RECORDS):
        (directory / f"record-{number}.txt").write_text(f"sample record {number}\n")


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
