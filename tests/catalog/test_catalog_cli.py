"""`sexton catalog` as users run it: a real process, JSON out, clear one-line refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from catalog_support import catalog_of, put, run_task

SEXTON = [str(Path(sys.executable).parent / "sexton")]
ODD_NAMES = [
    "with space.warc.gz",
    "ünïcödé/日本語.warc.gz",
    "new\nline.warc.gz",
    "deep/" + "l" * 240 + "/" + "o" * 240 + ".warc.gz",
    "100%_done [1].warc.gz",
]


def sexton(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SEXTON, *args, "-c", str(config)], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def scanned(archive, store_dir: Path, tmp_path: Path) -> Path:
    for index, name in enumerate(ODD_NAMES):
        put(store_dir, name, b"x" * (index + 1))
    instance = archive("  - {name: scan, type: scan, store: store, checksum_new: true}\n")
    assert run_task(instance, "scan") == "succeeded"
    return tmp_path / "sexton.yaml"


@pytest.mark.timeout(300)  # a dozen CLI processes, each importing Sexton afresh
def test_odd_names_are_scanned_marked_and_shown_exactly(scanned: Path):
    for index, name in enumerate(ODD_NAMES):
        assert sexton(scanned, "catalog", "mark", name, "cdx", "coll").returncode == 0
        shown = sexton(scanned, "catalog", "show", name, "--json")
        assert shown.returncode == 0, shown.stderr
        detail = json.loads(shown.stdout)
        assert detail["name"] == name
        assert detail["size"] == index + 1
        assert detail["checksum"].startswith("sha256:")
        assert [(i["store"], i["path"], i["state"]) for i in detail["instances"]] == [
            ("store", name, "present")
        ]
        assert [(m["name"], m["value"]) for m in detail["marks"]] == [("cdx", "coll")]
    needs = sexton(scanned, "catalog", "needs", "cdx=coll", "--json")
    assert json.loads(needs.stdout) == []
    human = sexton(scanned, "catalog", "show", ODD_NAMES[2])
    assert human.returncode == 0 and "new\\nline.warc.gz" in human.stdout


def test_stats_json_has_the_documented_shape(scanned: Path, archive, store_dir: Path):
    result = sexton(scanned, "catalog", "stats", "--json")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["files"] == len(ODD_NAMES)
    assert stats["bytes"] == sum(range(1, len(ODD_NAMES) + 1))
    assert stats["instances"] == {
        "present": len(ODD_NAMES),
        "missing": 0,
        "corrupt": 0,
        "deleted": 0,
    }
    store = stats["stores"]["store"]
    assert set(store) == {"files", "bytes", "free", "enabled"}
    assert store["files"] == len(ODD_NAMES) and store["enabled"] is True
    assert isinstance(store["free"], int) and store["free"] > 0


def test_ls_filters_by_store_state_and_needed_mark(scanned: Path):
    sexton(scanned, "catalog", "mark", ODD_NAMES[0], "cdx")
    rows = json.loads(sexton(scanned, "catalog", "ls", "--needs", "cdx", "--json").stdout)
    assert sorted(r["name"] for r in rows) == sorted(ODD_NAMES[1:])
    rows = json.loads(sexton(scanned, "catalog", "ls", "--state", "missing", "--json").stdout)
    assert rows == []
    limited = sexton(scanned, "catalog", "ls", "--store", "store", "--limit", "2", "--json")
    assert len(json.loads(limited.stdout)) == 2
    assert sexton(scanned, "catalog", "ls").returncode == 0


def test_unmark_makes_a_file_needed_again(scanned: Path):
    sexton(scanned, "catalog", "mark", ODD_NAMES[0], "cdx")
    assert sexton(scanned, "catalog", "unmark", ODD_NAMES[0], "cdx").returncode == 0
    needed = json.loads(sexton(scanned, "catalog", "needs", "cdx", "--json").stdout)
    assert ODD_NAMES[0] in [n["name"] for n in needed]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "nope"], "no file named 'nope'"),
        (["show", "../x"], ".."),
        (["mark", "../x", "cdx"], ".."),
        (["mark", "nope", "cdx"], "no file named 'nope'"),
        (["ls", "--store", "nope"], "no store named 'nope'"),
        (["needs", "cdx", "--store", "nope"], "no store named 'nope'"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_changes_nothing(scanned: Path, args, message):
    before = counts(scanned)
    result = sexton(scanned, "catalog", *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert counts(scanned) == before


def counts(config: Path) -> dict:
    """Stats without free space, which other processes on this disk change meanwhile."""
    stats = json.loads(sexton(config, "catalog", "stats", "--json").stdout)
    for store in stats["stores"].values():
        del store["free"]
    marks = json.loads(sexton(config, "catalog", "needs", "cdx", "--json").stdout)
    return {**stats, "needing_cdx": len(marks)}


HADOOP_LISTING = """\
Found 3 items
drwxr-xr-x   - hdfs supergroup          0 2024-01-31 10:00 /data/warcs/2024
-rw-r--r--   3 hdfs supergroup       1234 2024-01-31 10:00 /data/warcs/2024/a b.warc.gz
-rw-r--r--   3 hdfs supergroup       5678 2024-01-31 11:30 /data/warcs/2024/c.warc.gz
"""


def test_import_listing_reads_hadoop_and_json_lines_and_marks_vanished_missing(
    open_instance, tmp_path: Path
):
    instance = open_instance("stores:\n  hdfs: {url: 'file:///data/warcs'}\n")
    config = tmp_path / "sexton.yaml"
    listing = tmp_path / "listing.txt"
    listing.write_text(HADOOP_LISTING)
    result = sexton(config, "catalog", "import-listing", "hdfs", str(listing))
    assert result.returncode == 0, result.stderr
    catalog = catalog_of(instance)
    shown = catalog.show("2024/a b.warc.gz")
    assert shown.file.size == 1234
    assert shown.file.created_at.isoformat() == "2024-01-31T10:00:00+00:00"
    assert shown.file.source == "import:hdfs"

    listing.write_text('{"name": "2024/c.warc.gz", "size": 5678, "mtime": 1706700600}\n')
    assert sexton(config, "catalog", "import-listing", "hdfs", str(listing)).returncode == 0
    assert catalog.show("2024/a b.warc.gz").instances[0].state == "missing"
    assert catalog.show("2024/c.warc.gz").instances[0].state == "present"


def test_a_bad_listing_line_is_reported_with_its_line_and_imports_nothing(
    open_instance, tmp_path: Path
):
    instance = open_instance("stores:\n  hdfs: {url: 'file:///data/warcs'}\n")
    listing = tmp_path / "listing.txt"
    listing.write_text(
        HADOOP_LISTING + "-rw-r--r--   3 hdfs supergroup  1 2024-01-31 10:00 /elsewhere/x\n"
    )
    result = sexton(tmp_path / "sexton.yaml", "catalog", "import-listing", "hdfs", str(listing))
    assert result.returncode == 1
    assert "listing.txt:5:" in result.stderr and "not under the store root" in result.stderr
    assert list(catalog_of(instance).ls()) == []
