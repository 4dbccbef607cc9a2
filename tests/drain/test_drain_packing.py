"""Packing rules: which files form which series, and what a series is called."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sexton.checksums import Checksum
from sexton.drain.manifest import render_manifest
from sexton.drain.packing import candidates, check_naming, group, packed_files, series_name
from sexton.stores import EntryInfo


def entries(*sizes: int) -> list[EntryInfo]:
    return [EntryInfo(f"w/{i}.warc", size, 1000.0 + i) for i, size in enumerate(sizes)]


def sizes_of(groups: list[list[EntryInfo]]) -> list[list[int]]:
    return [[e.size for e in g] for g in groups]


def test_series_fill_up_to_max_size_and_the_open_one_waits_unless_finishing():
    files = entries(40, 40, 40, 40)
    assert sizes_of(group(files, 100, finishing=False)) == [[40, 40]]
    assert sizes_of(group(files, 100, finishing=True)) == [[40, 40], [40, 40]]


def test_a_series_that_reaches_max_size_exactly_is_complete():
    assert sizes_of(group(entries(50, 50, 10), 100, finishing=False)) == [[50, 50]]


def test_a_file_bigger_than_max_size_is_a_series_alone():
    groups = group(entries(30, 150, 30), 100, finishing=True)
    assert sizes_of(groups) == [[30], [150], [30]]


def test_the_newest_file_is_held_back_unless_finishing():
    listing = entries(10, 10, 10)[::-1]  # listings come in no set order
    kept = candidates(listing, prefix="w", draining=set(), written_before=None, finishing=False)
    assert [e.name for e in kept] == ["w/0.warc", "w/1.warc"]
    every = candidates(listing, prefix="w", draining=set(), written_before=None, finishing=True)
    assert [e.name for e in every] == ["w/0.warc", "w/1.warc", "w/2.warc"]


def test_files_in_a_series_too_young_or_named_manifest_are_not_packed():
    listing = [*entries(10, 10, 10, 10), EntryInfo("w/MANIFEST", 5, 0.0)]
    kept = candidates(
        listing, prefix="w", draining={"w/0.warc"}, written_before=1001.5, finishing=True
    )
    assert [e.name for e in kept] == ["w/1.warc"]


def test_targets_keep_the_path_under_the_prefix_inside_the_series():
    packed = packed_files("s-1", [EntryInfo("w/sub/a.warc", 3, None)], "w")
    assert [(p.path, p.target, p.size) for p in packed] == [("w/sub/a.warc", "s-1/sub/a.warc", 3)]
    assert packed_files("s-1", [EntryInfo("a.warc", 3, None)], None)[0].target == "s-1/a.warc"


def test_series_names_follow_the_template_in_utc():
    now = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert series_name("{task}-{date:%Y%m%d}-{serial:04d}", "crawl", now, 7) == (
        "crawl-20260304-0007"
    )


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{task}-{date:%Y}", "{serial}"),
        ("{task}-{serial}-{nope}", "bad naming"),
        ("../{serial}", "bad naming"),
    ],
)
def test_bad_naming_templates_are_refused(template: str, problem: str):
    with pytest.raises(ValueError, match=problem):
        check_naming(template)


def test_manifest_lines_name_the_algorithm_and_the_file_within_the_series():
    digest = "a" * 64
    text = render_manifest("s-1", [("s-1/sub/a.warc", Checksum("sha256", digest))])
    assert text == f"SHA256 (sub/a.warc) = {digest}\n".encode()
