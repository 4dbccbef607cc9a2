"""`sexton events export --format premis`: the catalog's fixity checks, clones and deletions
as PREMIS 3 XML that validates against the schema, through the CLI as an operator runs it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from datacare_support import flip_a_byte
from lxml import etree

SEXTON = [str(Path(sys.executable).parent / "sexton")]
SUBSET_XSD = Path(__file__).parent.parent / "data" / "premis-v3-subset.xsd"
OFFICIAL_XSD = os.environ.get("SEXTON_PREMIS_XSD")  # the official premis-v3 file, if one is at hand
P = "{http://www.loc.gov/premis/v3}"
TASKS = (
    "  - {name: fixity, type: check_integrity, store_name: store, age_in_days: null}\n"
    "  - {name: clone, type: create_local_clone, clone_from: store, clone_to: [clone],"
    " age_in_days: null}\n"
    "  - {name: delete, type: rolling_deletion, store_name: store, age_in_days: 0,"
    " number_of_copies: 1}\n"
)


def sexton(config: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*SEXTON, *args, "-c", str(config)], capture_output=True, timeout=120)


def run(config: Path, task: str) -> int:
    return sexton(config, "run", task).returncode


def validated(document: bytes) -> etree._Element:
    """The parsed document, once it is valid against each PREMIS 3 schema at hand."""
    root = etree.fromstring(document)
    for xsd in [SUBSET_XSD, *([Path(OFFICIAL_XSD)] if OFFICIAL_XSD else [])]:
        schema = etree.XMLSchema(etree.parse(str(xsd)))
        assert schema.validate(root), schema.error_log
    return root


@pytest.fixture
def history(site, tmp_path: Path) -> Path:
    """Three files scanned, cloned, one then damaged on the store and found by a fixity
    check, the other two deleted from the store because the clone vouches for them."""
    here = site(TASKS, clone="")
    for name in ("a.warc.gz", "b.dat", "c.dat"):
        here.put(f"crawl/{name}", name.encode() * 100)
    config = tmp_path / "sexton.yaml"
    assert run(config, "scan-store") == 0
    assert run(config, "clone") == 0
    flip_a_byte(here.dir() / "crawl/b.dat", 7)
    assert run(config, "fixity") == 1
    assert run(config, "delete") == 0
    return config


def events_of(root: etree._Element) -> list[tuple[str, str, str]]:
    """(eventType, outcome, file name) of every event."""
    return [
        (
            e.findtext(f"{P}eventType"),
            e.findtext(f"{P}eventOutcomeInformation/{P}eventOutcome"),
            e.findtext(f"{P}linkingObjectIdentifier/{P}linkingObjectIdentifierValue"),
        )
        for e in root.iter(f"{P}event")
    ]


def test_the_export_is_valid_premis_with_every_fixity_clone_and_deletion(history: Path):
    result = sexton(history, "events", "export", "--format", "premis")
    assert result.returncode == 0, result.stderr

    root = validated(result.stdout)
    assert root.tag == f"{P}premis" and root.get("version") == "3.0"
    found = Counter((kind, outcome) for kind, outcome, _ in events_of(root))
    assert found == {
        ("replication", "success"): 3,  # the clones
        ("fixity check", "failure"): 1,  # b.dat, damaged on the store
        # a and c checked on the store before their deletion (a check outlives its copy),
        # and the clones' three copies, hashed as they were written
        ("fixity check", "success"): 5,
        ("deletion", "success"): 2,  # a and c, from the store
    }
    assert ("fixity check", "failure", "crawl/b.dat") in events_of(root)
    deleted = {n for kind, _, n in events_of(root) if kind == "deletion"}
    assert deleted == {"crawl/a.warc.gz", "crawl/c.dat"}
    objects = {
        o.findtext(f"{P}objectIdentifier/{P}objectIdentifierValue"): o
        for o in root.iter(f"{P}object")
    }
    assert set(objects) == {"crawl/a.warc.gz", "crawl/b.dat", "crawl/c.dat"}
    digest = objects["crawl/c.dat"].find(f"{P}objectCharacteristics/{P}fixity")
    assert digest.findtext(f"{P}messageDigestAlgorithm") == "SHA-256"
    assert digest.findtext(f"{P}messageDigest") == hashlib.sha256(b"c.dat" * 100).hexdigest()
    identifiers = [
        e.findtext(f"{P}eventIdentifier/{P}eventIdentifierValue") for e in root.iter(f"{P}event")
    ]
    assert len(set(identifiers)) == len(identifiers)


def test_the_export_to_a_file_and_since_a_moment_in_the_future(history: Path, tmp_path: Path):
    out = tmp_path / "events.xml"
    result = sexton(history, "events", "export", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert b"11 events written to" in result.stderr
    assert len(events_of(validated(out.read_bytes()))) == 11

    later = sexton(history, "events", "export", "--since", "2999-01-01")
    assert later.returncode == 0
    assert later.stdout == b"" and b"no events since 2999-01-01" in later.stderr


def test_a_bad_since_is_refused_naming_the_option(history: Path, tmp_path: Path):
    result = sexton(history, "events", "export", "--since", "last tuesday")
    assert result.returncode == 2
    assert b"--since: 'last tuesday' is neither an ISO 8601 date or time nor a duration" in (
        result.stderr
    )
    assert b"Traceback" not in result.stderr


def test_a_copy_repaired_from_its_clone_is_a_repair_event(site, tmp_path: Path):
    here = site(TASKS + "  - {name: mend, type: repair, stores: [store]}\n", clone="")
    here.put("crawl/a.dat", b"a.dat" * 100)
    config = tmp_path / "sexton.yaml"
    assert run(config, "scan-store") == 0
    assert run(config, "clone") == 0
    flip_a_byte(here.dir() / "crawl/a.dat", 7)
    assert run(config, "fixity") == 1
    assert run(config, "mend") == 0

    result = sexton(config, "events", "export", "--format", "premis")
    assert result.returncode == 0, result.stderr
    root = validated(result.stdout)
    assert ("repair", "success", "crawl/a.dat") in events_of(root)
    notes = f"{P}eventOutcomeInformation/{P}eventOutcomeDetail/{P}eventOutcomeDetailNote"
    details = [e.findtext(notes) for e in root.iter(f"{P}event")]
    assert any("replaced from store clone" in (d or "") for d in details), details
