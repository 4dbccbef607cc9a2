"""check_integrity with `verify: warc`: damage done to a WARC before its checksum was taken
(so the checksum matches the damaged bytes) is still found, from the records' own digests
and the gzip members, through `sexton run` as an operator runs it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from datacare_support import flip_a_byte
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

SEXTON = [str(Path(sys.executable).parent / "sexton")]
CHECK = "  - {{name: fixity, type: check_integrity, store_name: store, age_in_days: null{extra}}}\n"
BODY = b"<html>an archived page</html>\n" * 40


def warc(compressed: bool, records: int = 3) -> bytes:
    """A WARC of ``records`` responses with their block and payload digests, as crawlers write."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=compressed)
    for i in range(records):
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(
                f"http://example.test/{i}",
                "response",
                payload=io.BytesIO(BODY),
                http_headers=http,
            )
        )
    return out.getvalue()


def sexton(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SEXTON, *args, "-c", str(config)], capture_output=True, text=True, timeout=120
    )


def status_of(config: Path, task: str) -> str:
    listed = json.loads(sexton(config, "status", "--json").stdout)
    return next(t["status"] for t in listed if t["task"] == task)


def states(config: Path) -> dict[str, str]:
    listed = json.loads(sexton(config, "catalog", "ls", "--json").stdout)
    return {row["name"]: row["state"] for row in listed}


def damaged_before_scan(site, extra: str):
    """A store with a good WARC, a good gzipped WARC, a plain file, and a WARC whose second
    record's body was damaged before the scan recorded its checksum."""
    here = site(CHECK.format(extra=extra))
    here.put("crawl/good.warc.gz", warc(compressed=True))
    here.put("crawl/good.warc", warc(compressed=False))
    here.put("notes.txt", b"not a WARC, and fine\n")
    data = warc(compressed=False)
    second_body = data.index(BODY, data.index(BODY) + len(BODY))
    path = here.put("crawl/bad.warc", data)
    flip_a_byte(path, second_body + 10)
    here.scan()  # the damaged bytes' checksum is what the catalog now holds
    return here, data.index(b"WARC/1.", second_body - 1000)


def test_verify_warc_finds_a_damaged_record_whose_file_checksum_matches(site, tmp_path):
    here, _ = damaged_before_scan(site, ", verify: warc")
    config = tmp_path / "sexton.yaml"

    result = sexton(config, "run", "fixity")

    assert result.returncode == 1, result.stdout + result.stderr
    said = result.stdout + result.stderr
    assert "1 corrupt copies on store store: crawl/bad.warc (WARC record at offset" in said
    assert "digest failed" in said
    assert states(config) == {
        "crawl/bad.warc": "corrupt",
        "crawl/good.warc": "present",
        "crawl/good.warc.gz": "present",
        "notes.txt": "present",
    }
    assert status_of(config, "fixity") == "down"
    # Sticky, as corruption is: the next run does not bring the task back up by itself.
    assert sexton(config, "run", "fixity").returncode == 0
    assert status_of(config, "fixity") == "down"


def test_the_error_names_the_offset_of_the_damaged_record(site, tmp_path):
    here, record_offset = damaged_before_scan(site, ", verify: warc")
    result = sexton(tmp_path / "sexton.yaml", "run", "fixity")
    assert f"crawl/bad.warc (WARC record at offset {record_offset}: block digest failed" in (
        result.stdout + result.stderr
    )
    assert any("corrupt" in e and str(record_offset) in e for e in here.events("fixity"))


def test_a_plain_checksum_check_cannot_see_that_damage(site, tmp_path):
    damaged_before_scan(site, "")
    config = tmp_path / "sexton.yaml"
    assert sexton(config, "run", "fixity").returncode == 0
    assert states(config)["crawl/bad.warc"] == "present"


def test_verify_warc_finds_a_damaged_gzip_member(site, tmp_path):
    here = site(CHECK.format(extra=", verify: warc"))
    data = bytearray(warc(compressed=True))
    data[len(data) // 2] ^= 0xFF  # inside the second of three gzip members
    here.put("crawl/broken.warc.gz", bytes(data))
    here.scan()
    config = tmp_path / "sexton.yaml"

    result = sexton(config, "run", "fixity")

    assert result.returncode == 1
    assert "crawl/broken.warc.gz (WARC record at offset" in result.stdout + result.stderr
    assert states(config)["crawl/broken.warc.gz"] == "corrupt"


def test_a_misspelt_verify_mode_is_a_config_error_naming_the_key(site, tmp_path):
    site(CHECK.format(extra=""))
    config = tmp_path / "sexton.yaml"
    config.write_text(config.read_text().replace("age_in_days: null", "verify: wark"))
    result = sexton(config, "validate")
    assert result.returncode == 2
    assert "sexton.yaml:6: tasks[1].verify: Input should be 'checksum' or 'warc'" in result.stderr
    assert "Traceback" not in result.stderr
