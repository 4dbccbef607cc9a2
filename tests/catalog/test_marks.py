"""needs / mark / unmark: values, newest first, limits, stores, and refusals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from catalog_support import OLD, catalog_of, put, run_task

from sexton.catalog import CatalogError, UnknownFile
from support import START


@pytest.fixture
def scanned(archive, store_dir: Path):
    for age, name in enumerate(["new.warc.gz", "mid.warc.gz", "old.warc.gz"]):
        put(store_dir, name, mtime=OLD - age * 3600)
    instance = archive("  - {name: scan, type: scan, store: store}\n")
    run_task(instance, "scan")
    return catalog_of(instance)


def names(needed) -> list[str]:
    return [n.file.name for n in needed]


def test_needs_lists_files_without_the_mark_newest_first_and_bounded(scanned):
    assert names(scanned.needs("cdx")) == ["new.warc.gz", "mid.warc.gz", "old.warc.gz"]
    assert names(scanned.needs("cdx", limit=2)) == ["new.warc.gz", "mid.warc.gz"]
    assert names(scanned.needs("cdx", order="oldest", limit=1)) == ["old.warc.gz"]
    scanned.mark(["new.warc.gz"], "cdx")
    assert names(scanned.needs("cdx")) == ["mid.warc.gz", "old.warc.gz"]


def test_a_mark_with_another_value_does_not_satisfy_needs_with_a_value(scanned):
    scanned.mark(["new.warc.gz"], "cdx", "collection-a")
    assert "new.warc.gz" not in names(scanned.needs("cdx"))
    assert "new.warc.gz" in names(scanned.needs("cdx", "collection-b"))
    assert "new.warc.gz" not in names(scanned.needs("cdx", "collection-a"))


def test_marking_twice_is_harmless_and_unmark_removes_one_value_or_all(scanned):
    scanned.mark(["mid.warc.gz"], "cdx", "a")
    scanned.mark(["mid.warc.gz"], "cdx", "a")
    scanned.mark(["mid.warc.gz"], "cdx", "b")
    assert len(scanned.show("mid.warc.gz").marks) == 2
    assert scanned.unmark(["mid.warc.gz"], "cdx", "a") == 1
    assert [m.value for m in scanned.show("mid.warc.gz").marks] == ["b"]
    assert scanned.unmark(["mid.warc.gz"], "cdx") == 1
    assert "mid.warc.gz" in names(scanned.needs("cdx"))


def test_needs_by_store_and_age_gives_paths_on_that_store(scanned):
    on_store = scanned.needs("cdx", store="store", newer_than=START - timedelta(days=1, minutes=90))
    assert [(n.file.name, n.path) for n in on_store] == [
        ("new.warc.gz", "new.warc.gz"),
        ("mid.warc.gz", "mid.warc.gz"),
    ]
    assert scanned.needs("cdx", store="elsewhere") == []


def test_unknown_and_unsafe_names_are_refused_and_nothing_is_marked(scanned):
    with pytest.raises(UnknownFile, match="no file named 'nope'"):
        scanned.mark(["new.warc.gz", "nope"], "cdx")
    with pytest.raises(CatalogError, match=r"\.\."):
        scanned.mark(["../x"], "cdx")
    with pytest.raises(CatalogError, match="bad mark name"):
        scanned.mark(["new.warc.gz"], "a=b")
    assert len(scanned.needs("cdx")) == 3
