"""The catalog over HTTP: totals, files with their copies and marks, what still needs a
mark, and per-store usage, after a real scan of a local store."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from served import Api

from sexton.catalog import Catalog
from support import START

OLD = START.timestamp() - 86_400  # old enough for the scan to take the files


def test_catalog_routes_show_a_scanned_store(serve_api: Callable[..., Api], tmp_path: Path) -> None:
    root = tmp_path / "store"
    for name, data in (("a.warc.gz", b"aaaa"), ("sub/b.warc.gz", b"bb")):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (OLD, OLD))
    api = serve_api(
        f"stores: {{store: {{url: 'file://{root}'}}}}\n"
        "tasks:\n  - {name: scan, type: scan, store: store, checksum_new: true}\n"
    )
    api.admin.post("/api/v1/tasks/scan/runs").raise_for_status()
    assert api.worker().run_once()
    assert api.reader.get("/api/v1/runs?task=scan").json()[0]["state"] == "succeeded"

    stats = api.reader.get("/api/v1/catalog/stats").json()
    assert stats["files"] == 2 and stats["bytes"] == 6
    assert stats["instances"]["present"] == 2
    assert stats["stores"]["store"]["files"] == 2 and stats["stores"]["store"]["enabled"]
    assert api.reader.get("/api/v1/stores").json()["store"]["bytes"] == 6

    listed = api.reader.get("/api/v1/catalog/files", params={"store": "store"}).json()
    assert [(f["name"], f["state"]) for f in listed] == [
        ("a.warc.gz", "present"),
        ("sub/b.warc.gz", "present"),
    ]
    Catalog(api.instance.engine, api.instance.clock).mark(["a.warc.gz"], "cdx_indexed", "main")
    shown = api.reader.get("/api/v1/catalog/files/a.warc.gz").json()
    assert shown["size"] == 4 and [i["store"] for i in shown["instances"]] == ["store"]
    assert [(m["name"], m["value"]) for m in shown["marks"]] == [("cdx_indexed", "main")]
    needed = api.reader.get("/api/v1/catalog/needs", params={"mark": "cdx_indexed"}).json()
    assert [(f["name"], f["path"]) for f in needed] == [("sub/b.warc.gz", "sub/b.warc.gz")]
    Catalog(api.instance.engine, api.instance.clock).mark(["sub/b.warc.gz"], "cdx_indexed:failed")
    assert api.reader.get("/api/v1/catalog/needs", params={"mark": "cdx_indexed"}).json() == []
    quarantined = api.reader.get(
        "/api/v1/catalog/needs", params={"mark": "cdx_indexed", "failed": "true"}
    ).json()
    assert [f["name"] for f in quarantined] == ["sub/b.warc.gz"]

    assert api.reader.get("/api/v1/catalog/files/nothing-here").status_code == 404
    assert api.reader.get("/api/v1/catalog/needs", params={"mark": "a=b"}).status_code == 422
