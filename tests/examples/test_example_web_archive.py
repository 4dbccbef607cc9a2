"""examples/web-archive end to end: scans, indexing once per file, the ACL update and the
website check after it, nightly backups as CSV and pg_dump, the SFTP-only import, alerts."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import threading
import uuid
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa
from example_support import Sexton, copy_example, last_run_succeeded, wait_for
from ruamel.yaml import YAML

PG_URL = os.environ.get("SEXTON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
FREQUENT = "heritrix/output/frequent-npld"
COLLECTION = "npld-test"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def website(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The public website on loopback, serving the access lists that update-acl writes."""
    access = tmp_path / "access"
    access.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(access)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", access
    server.shutdown()
    server.server_close()


@pytest.fixture
def w3act_db() -> Iterator[str]:
    """A W3ACT database of our own on the test PostgreSQL, with a few rows, dropped after."""
    name = f"w3act_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(
        PG_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE target (id int PRIMARY KEY, url text)"))
        connection.execute(sa.text("CREATE TABLE collection (id int PRIMARY KEY, name text)"))
        connection.execute(
            sa.text("INSERT INTO target VALUES (1, 'http://example.co.uk/'), (2, 'http://b.uk/')")
        )
        connection.execute(sa.text("INSERT INTO collection VALUES (1, 'News')"))
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


def arrive(hdfs: Path, name: str, mtime: int) -> str:
    """A closed WARC in the frequent crawl's output; returns its path as the indexer sees it."""
    path = hdfs / FREQUENT / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"WARC/1.0\r\n" + name.encode() * 50)
    os.utime(path, (mtime, mtime))
    return str(path)


def indexed(log: Path) -> list[str]:
    """The paths an indexer stand-in was given, in order, each line `COLLECTION PATH`."""
    if not log.exists():
        return []
    lines = [line.split(" ", 1) for line in log.read_text().splitlines()]
    assert {collection for collection, _ in lines} == {COLLECTION}
    return [path for _, path in lines]


def index_hour(sexton: Sexton) -> None:
    """One hour's work: the scan, then both indexers (what the schedule does each hour)."""
    for task in ("scan-frequent", "cdx-index", "solr-index"):
        sexton.run("run", task)


@pytest.mark.timeout(600)  # some thirty `sexton` processes, each importing the whole tool
def test_web_archive_example(
    tmp_path: Path, database_url: str, website: tuple[str, Path], w3act_db: str
) -> None:
    website_url, access = website
    directory = copy_example("web-archive", tmp_path)
    data = tmp_path / "data"
    hdfs, backups, logs = data / "hdfs", data / "backups", data / "index-logs"
    for root in (hdfs, backups):  # a store's root must exist: an unmounted drive is an error
        root.mkdir(parents=True)
    sexton = Sexton(
        directory,
        database_url,
        {
            "COLLECTION": COLLECTION,
            "HDFS_ROOT": str(hdfs),
            "ACCESS_DIR": str(access),
            "BACKUP_ROOT": str(backups),
            "INDEX_LOG_DIR": str(logs),
            "WEBSITE_URL": website_url,
            "W3ACT_DB_URL": w3act_db,
        },
    )
    assert "valid, 9 tasks" in sexton.run("validate").stdout

    # The access lists come first: solr-index `requires` a successful update-acl.
    sexton.run("run", "update-acl")
    assert sorted(p.name for p in access.iterdir()) == [
        "allows.aclj",
        "allows.txt",
        "annotations.json",
    ]  # renamed into place: no *.new left behind

    # Hour 1: three closed WARCs and one still being written.
    first = [arrive(hdfs, f"crawl-{n}.warc.gz", 1_700_000_000 + n * 60) for n in range(3)]
    (hdfs / FREQUENT / "crawl-3.warc.gz.open").write_bytes(b"WARC/1.0\r\n")
    index_hour(sexton)
    newest_first = list(reversed(first))
    assert indexed(logs / "cdx.log") == newest_first
    assert indexed(logs / "solr.log") == newest_first

    # Hour 2: nothing new, nothing indexed again.
    index_hour(sexton)
    assert indexed(logs / "cdx.log") == newest_first

    # Hour 3: the open WARC is closed and two more arrive.
    (hdfs / FREQUENT / "crawl-3.warc.gz.open").rename(hdfs / FREQUENT / "crawl-3.warc.gz")
    later = [str(hdfs / FREQUENT / "crawl-3.warc.gz")]
    later += [arrive(hdfs, f"crawl-{n}.warc.gz", 1_700_100_000 + n) for n in (4, 5)]
    index_hour(sexton)
    every_file = sorted(first + later)
    for log in ("cdx.log", "solr.log"):
        paths = indexed(logs / log)
        assert sorted(paths) == every_file, f"{log}: every WARC indexed exactly once"
    for mark in ("cdx_indexed", "solr_indexed"):
        assert sexton.json("catalog", "needs", f"{mark}={COLLECTION}") == []

    # The ACL update is followed by the website check (`after:`), which a worker runs.
    sexton.run("run", "update-acl")
    with sexton.serve():
        check = wait_for(
            lambda: [r for r in sexton.runs("website-check") if r["state"] == "succeeded"],
            "the website check after the ACL update",
        )
        assert check[0]["reason"] == "after"

        # The monthly import is for hosts that can SFTP: this worker has no `sftp` tag.
        sexton.run("trigger", "nominet-import")
        assert [r["state"] for r in sexton.runs("nominet-import")] == ["queued"]
    assert [r["state"] for r in sexton.runs("nominet-import")] == ["queued"]
    with sexton.serve("--tags", "sftp"):
        wait_for(
            lambda: [r for r in sexton.runs("nominet-import") if r["state"] == "succeeded"],
            "the import on the sftp worker",
        )
    assert list((hdfs / "datasets" / "nominet").glob("nominet-*.csv"))

    # Nightly backups of the W3ACT database: every table as CSV, and pg_dump.
    sexton.run("run", "w3act-csv-backup")
    sexton.run("run", "w3act-pg-dump")
    (csv_backup,) = (backups / "w3act-csv").iterdir()
    with tarfile.open(csv_backup) as bundle:
        tables = {
            Path(member.name).name: bundle.extractfile(member).read().decode()  # type: ignore[union-attr]
            for member in bundle.getmembers()
            if member.isfile()
        }
    assert sorted(tables) == ["collection.csv", "target.csv"]
    assert tables["target.csv"].splitlines() == [
        "id,url",
        "1,http://example.co.uk/",
        "2,http://b.uk/",
    ]
    (dump,) = (backups / "w3act-pgdump").iterdir()
    listing = subprocess.run(
        ["pg_restore", "--list", str(dump)], capture_output=True, text=True, check=True
    ).stdout
    assert "TABLE public target" in listing and "TABLE public collection" in listing

    # Every duty that ran is up; the rest wait for their first slot.
    status = sexton.status()
    for task in ("scan-frequent", "cdx-index", "solr-index", "update-acl", "website-check"):
        assert last_run_succeeded(status[task]), status[task]
    for task in ("w3act-csv-backup", "w3act-pg-dump", "nominet-import"):
        assert last_run_succeeded(status[task]), status[task]

    # Alert rules for Prometheus, ready to load.
    rules = YAML(typ="safe").load(io.StringIO(sexton.run("alerts").stdout))
    alerts = [rule["alert"] for group in rules["groups"] for rule in group["rules"]]
    assert "SextonTaskDown" in alerts and "SextonTaskIdle" in alerts  # cdx-index's idle_after
    assert all(rule["expr"] for group in rules["groups"] for rule in group["rules"])
