"""The copies policy and ``replicate``, as a user drives them: `sexton run replicate`,
`sexton catalog stats --json`, /metrics and `sexton validate`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from datacare_support import flip_a_byte

from sexton.catalog import CopiesPolicy, OpenStores
from sexton.db.catalog_tables import files, remote_instances
from sexton.metrics import render
from sexton.stores.paths import is_temp_name
from support import START

SEXTON = str(Path(sys.executable).parent / "sexton")
REPLICATE = "  - {name: replicate, type: replicate, targets: [%s], disable_store_on_full: %s}\n"


def sexton(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEXTON, *args, "-c", str(config)], capture_output=True, text=True, timeout=120
    )


def replicate(config: Path) -> dict:
    """`sexton run replicate --json`: the finished run."""
    result = sexton(config, "run", "replicate", "--json")
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def plan(config: Path) -> list[tuple[str, str, str]]:
    """`sexton plan replicate --json`: (action, store, path) of each planned copy."""
    result = sexton(config, "plan", "replicate", "--json")
    assert result.returncode == 0, result.stderr
    return [(p["action"], p["store"], p["path"]) for p in json.loads(result.stdout)]


def stats(config: Path) -> dict:
    result = sexton(config, "catalog", "stats", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def gauges(site, name: str) -> dict[str, float]:
    """One per-store gauge from a scrape of /metrics, by store."""
    text = render(site.instance, OpenStores(site.instance.config.settings.stores)).decode()
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line.rsplit(" ", 1)
            found[labels.split('store="', 1)[1].split('"', 1)[0]] = float(value)
    return found


def summary(site) -> str:
    """The newest run's summary event: what replicate did and could not do."""
    return [e for e in site.events("replicate") if e.startswith("replicated ")][-1]


def files_on(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_replicate_brings_every_file_to_min_copies_then_does_nothing(site, tmp_path):
    tasks = REPLICATE % ("drive1, drive2", "false") + "copies: {min: 3}\n"
    here = site(tasks, drive1="", drive2="")
    config = tmp_path / "sexton.yaml"
    for i in range(6):
        here.put(f"warcs/f{i}.warc.gz", bytes([i]) * (100 + i))
    here.scan()
    before = stats(config)
    assert (before["under_replicated"], before["lost"]) == (6, 0)
    assert set(before) >= {"files", "bytes", "instances", "stores"}  # every documented key kept
    assert gauges(here, "sexton_store_under_replicated_files") == {
        "store": 6,
        "drive1": 0,
        "drive2": 0,
    }

    planned = plan(config)
    run = replicate(config)
    assert (run["state"], run["items"], run["bytes"]) == ("succeeded", 12, 2 * sum(range(100, 106)))
    assert sorted(planned) == sorted(
        ("copy", drive, f"warcs/f{i}.warc.gz") for i in range(6) for drive in ("drive1", "drive2")
    )
    for i in range(6):
        name = f"warcs/f{i}.warc.gz"
        checksum = here.catalog.show(name).file.checksum
        copies = here.copies(name)
        assert set(copies) == {"store", "drive1", "drive2"}
        assert all(
            c.state == "present" and c.verified_checksum == checksum for c in copies.values()
        )
        for drive in ("drive1", "drive2"):
            assert (here.dir(drive) / name).read_bytes() == bytes([i]) * (100 + i)
    for drive in ("drive1", "drive2"):
        assert not any(is_temp_name(Path(n).name) for n in files_on(here.dir(drive)))
    after = stats(config)
    assert (after["under_replicated"], after["lost"]) == (0, 0)
    assert after["stores"]["drive1"]["files"] == after["stores"]["drive2"]["files"] == 6
    assert set(gauges(here, "sexton_store_under_replicated_files").values()) == {0}

    on_disk = {d: files_on(here.dir(d)) for d in ("drive1", "drive2")}
    again = replicate(config)
    assert (again["state"], again["items"], again["bytes"]) == ("succeeded", 0, 0)
    assert {d: files_on(here.dir(d)) for d in ("drive1", "drive2")} == on_disk
    assert "replicated copied=0" in summary(here)
    assert plan(config) == []


def test_never_copies_from_a_corrupt_or_unverified_source(site, tmp_path):
    tasks = (
        REPLICATE % ("drive1", "false")
        + "  - {name: check, type: check_integrity, store_name: store, age_in_days: null}\n"
        + "  - {name: scan-plain, type: scan, store: drive2}\n"
        + "copies: {min: 2}\n"
    )
    here = site(tasks, drive1="", drive2="")
    config = tmp_path / "sexton.yaml"
    here.put("known-bad", b"K" * 50)  # damage found by a check: its copy is corrupt
    here.put("rotten", b"R" * 50)  # damage nobody has seen yet: the copy says verified
    here.put("unverified", b"U" * 50)  # damaged, and its second copy never hashed
    here.put("unverified", b"U" * 50, store="drive2")
    here.scan()
    assert here.run("scan-plain") == "succeeded"
    assert here.copies("unverified")["drive2"].verified_checksum is None
    flip_a_byte(here.dir() / "known-bad")
    flip_a_byte(here.dir() / "unverified")
    assert here.run("check").startswith("failed")  # the damage is found, and sticky
    assert here.copies("unverified")["store"].state == "corrupt"
    flip_a_byte(here.dir() / "rotten")
    assert stats(config)["lost"] == 2  # known-bad and unverified: no good copy anywhere

    run = replicate(config)
    assert run["state"] == "failed" and "corrupt on store: rotten" in run["error"]
    assert files_on(here.dir("drive1")) == {}  # nothing registered, nothing under a final name
    assert "drive1" not in here.copies("rotten")
    assert here.copies("rotten")["store"].state == "corrupt"
    event = summary(here)
    assert "copied=0" in event and "source_corrupt=1" in event and "no_source=2" in event
    after = stats(config)
    assert (after["under_replicated"], after["lost"]) == (3, 3)
    assert gauges(here, "sexton_store_lost_files") == {"store": 3, "drive1": 0, "drive2": 1}


def test_a_full_target_is_disabled_and_the_rest_replicated_elsewhere(site, tmp_path):
    tasks = REPLICATE % ("drive1, drive2", "true") + "copies: {min: 2}\n"
    here = site(tasks, drive1="capacity: 250", drive2="capacity: 10000")
    config = tmp_path / "sexton.yaml"
    for i in range(5):
        here.put(f"f{i}", bytes([i]) * 100)
    here.scan()

    run = replicate(config)
    assert (run["state"], run["items"]) == ("succeeded", 5)
    assert len(files_on(here.dir("drive1"))) == 2  # 250 bytes: two 100-byte files
    assert len(files_on(here.dir("drive2"))) == 3
    for i in range(5):
        assert len([s for s in here.copies(f"f{i}") if s != "store"]) == 1
    assert any("store disabled store=drive1" in e for e in here.events("replicate"))
    after = stats(config)
    assert after["under_replicated"] == 0
    assert after["stores"]["drive1"]["enabled"] is False


def test_a_full_target_without_disable_fails_the_run_and_registers_nothing_partial(site, tmp_path):
    here = site(REPLICATE % ("drive1", "false") + "copies: {min: 2}\n", drive1="capacity: 150")
    config = tmp_path / "sexton.yaml"
    for i in range(3):
        here.put(f"f{i}", bytes([i]) * 100)
    here.scan()
    run = replicate(config)
    assert run["state"] == "failed" and "store drive1 is full" in run["error"]
    assert len(files_on(here.dir("drive1"))) == 1
    assert stats(config)["under_replicated"] == 2


def test_confirmed_remote_copies_count_and_a_site_shortfall_is_reported_not_fixed(site, tmp_path):
    tasks = (
        REPLICATE % ("drive1", "false")
        + "copies: {min: 2, sites: 2}\n"
        + "sites: {elsewhere: {url: 'http://127.0.0.1:9'}}\n"
    )
    here = site(tasks, drive1="")
    config = tmp_path / "sexton.yaml"
    for name in ("abroad", "home", "claimed"):
        here.put(name, name.encode() * 10)
    here.scan()
    with here.instance.engine.begin() as connection:
        ids = dict(connection.execute(sa.select(files.c.name, files.c.id)).all())
        checksum = dict(connection.execute(sa.select(files.c.name, files.c.checksum)).all())
        connection.execute(
            remote_instances.insert(),
            [  # confirmed with the file's checksum; and one not confirmed (no checksum yet)
                {"file_id": ids["abroad"], "site": "elsewhere", "store": "s",
                 "checksum": checksum["abroad"], "confirmed_at": START},
                {"file_id": ids["claimed"], "site": "elsewhere", "store": "s",
                 "checksum": None, "confirmed_at": None},
            ],
        )  # fmt: skip
    assert stats(config)["under_replicated"] == 2  # abroad has its two copies at two sites

    run = replicate(config)
    assert (run["state"], run["items"]) == ("succeeded", 2)  # home and claimed, not abroad
    assert set(here.copies("abroad")) == {"store"}
    assert set(here.copies("home")) == set(here.copies("claimed")) == {"store", "drive1"}
    assert "short_of_sites=2" in summary(here)
    after = stats(config)
    assert (after["under_replicated"], after["lost"]) == (2, 0)  # home, claimed: one site


def test_a_group_rule_applies_to_the_files_on_its_stores(site, tmp_path):
    tasks = (
        REPLICATE % ("drive1, drive2", "false")
        + "copies: {min: 1}\n"
        + "groups: {precious: {copies: {min: 3}}}\n"
    )
    here = site(tasks, drive1="", drive2="", vault="group: precious")
    config = tmp_path / "sexton.yaml"
    here.put("ordinary", b"o" * 10)
    here.put("treasure", b"t" * 10, store="vault")
    here.scan("vault")
    here.scan()
    assert stats(config)["under_replicated"] == 1

    assert replicate(config)["items"] == 2
    assert set(here.copies("ordinary")) == {"store"}
    assert set(here.copies("treasure")) == {"vault", "drive1", "drive2"}
    assert stats(config)["under_replicated"] == 0


def test_validate_names_a_copies_rule_the_stores_cannot_meet(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    config = tmp_path / "sexton.yaml"
    config.write_text(
        f"database: sqlite:///{tmp_path / 'x.db'}\n"
        "stores:\n"
        "  a: {url: a}\n"
        "  b: {url: b, group: preciuos}\n"
        "copies:\n"
        "  min: 3\n"
        "groups:\n"
        "  precious: {copies: {min: 2, sites: 2}}\n"
    )
    result = sexton(config, "validate")
    assert result.returncode == 2, result.stdout + result.stderr
    errors = result.stderr
    assert f"{config}:6: copies.min: 3 copies cannot be held" in errors
    assert "only 2 enabled stores" in errors
    assert f"{config}:4: stores.b.group: no group named 'preciuos'" in errors
    assert "did you mean 'precious'" in errors
    assert f"{config}:8: groups.precious.copies.sites: 2 sites cannot be reached" in errors
    assert "Traceback" not in errors

    config.write_text(
        config.read_text()
        .replace("min: 3", "min: 2")
        .replace("preciuos", "precious")
        .replace(", sites: 2", "")
    )
    assert sexton(config, "validate").returncode == 0


def test_files_per_run_limits_each_run_and_the_next_run_goes_on(site, tmp_path):
    tasks = (
        "  - {name: replicate, type: replicate, targets: [drive1], files_per_run: 2}\n"
        "copies: {min: 2}\n"
    )
    here = site(tasks, drive1="")
    config = tmp_path / "sexton.yaml"
    for i in range(5):
        here.put(f"f{i}", bytes([i]) * 10)
    here.scan()
    assert [replicate(config)["items"] for _ in range(4)] == [2, 2, 1, 0]
    assert len(files_on(here.dir("drive1"))) == 5


def test_the_policy_pages_through_the_catalog_by_file_id(site):
    here = site("copies: {min: 2}\n", drive1="")
    for i in range(5):
        here.put(f"f{i}", bytes([i]) * 10)
    here.put("held-twice", b"h")
    here.put("held-twice", b"h", store="drive1")
    here.scan()
    here.scan("drive1")
    policy = CopiesPolicy.of(here.instance.config.settings)
    pages, after = [], 0
    while after is not None:
        page = here.catalog.below_policy(policy, after, 2)
        pages.append([s.name for s in page.shortfalls])
        after = page.last_id
    assert sorted(name for page in pages for name in page) == [f"f{i}" for i in range(5)]
    assert all(len(page) <= 2 for page in pages) and len(pages) >= 3
