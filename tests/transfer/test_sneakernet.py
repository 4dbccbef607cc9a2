"""SneakerNet between two sites, each with its own database: the source clones onto a drive
and exports a manifest; the destination imports the drive, verifying every file."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from catalog.catalog_support import catalog_of, put, run_task
from sexton.api.server import ApiServer
from sexton.catalog import Catalog
from sexton.clock import FakeClock
from sexton.config import Config, load_config
from sexton.db.catalog_tables import remote_instances
from sexton.engine.service import Instance
from sexton.stores import StoreSettings, open_store
from sexton.tasks import registry
from sexton.transfer.sneakernet import (
    MANIFEST_NAME,
    SneakernetError,
    export_manifest,
    import_drive,
    parse_manifest,
    read_manifest_from,
)

SEXTON = [str(Path(sys.executable).parent / "sexton")]
FILES = 100
FROM_BETA = "token-beta-presents-to-alpha"


def sexton(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SEXTON, "sneakernet", *args, "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def content(i: int) -> bytes:
    return f"record {i}\n".encode() * (i + 1)


@dataclass
class Sites:
    source: Instance  # on its own SQLite database
    destination: Instance  # on the test's database (SQLite or PostgreSQL)
    write_config: Callable[..., Config]
    source_config: Path
    destination_config: Path
    drive: Path  # the drive's directory: mounted at the source, then at the destination
    archive: Path  # the destination's store

    @property
    def source_store(self) -> Path:
        return self.drive.parent / "store"

    def catalog(self, instance: Instance) -> Catalog:
        return catalog_of(instance)

    def archived(self) -> dict[str, str]:
        """The destination's copies on its archive store: name -> state."""
        return {r.file.name: r.state for r in catalog_of(self.destination).ls(store="archive")}


@pytest.fixture
def bare_sites(
    tmp_path: Path, write_config: Callable[..., Config], clock: FakeClock
) -> Iterator[Sites]:
    """Source `alpha` (store and drive) and destination `beta` (drive and archive), empty."""
    drive, store, archive = (tmp_path / n for n in ("drive", "store", "archive"))
    for directory in (drive, store, archive):
        directory.mkdir()
    source_config = tmp_path / "alpha.yaml"
    source_config.write_text(
        f"database: sqlite:///{tmp_path / 'alpha.db'}\nsite: alpha\n"
        f"api: {{listen: '127.0.0.1:0', tokens: {{admin: a-secret, site: [{FROM_BETA}]}}}}\n"
        f"stores:\n  store: {{url: '{store.as_uri()}'}}\n  drive: {{url: '{drive.as_uri()}'}}\n"
        "tasks:\n  - {name: scan, type: scan, store: store, checksum_new: true}\n"
        "  - {name: clone, type: create_local_clone, clone_from: store, clone_to: [drive]}\n"
    )
    source = Instance.open(load_config(source_config, registry.task_class), clock)
    destination = Instance.open(
        write_config(
            f"site: beta\nstores:\n  drive: {{url: '{drive.as_uri()}'}}\n"
            f"  archive: {{url: '{archive.as_uri()}'}}\n",
            name="beta.yaml",
        ),
        clock,
    )
    yield Sites(
        source, destination, write_config, source_config, tmp_path / "beta.yaml", drive, archive
    )
    source.engine.dispose()
    destination.engine.dispose()


@pytest.fixture
def sites(bare_sites: Sites) -> Sites:
    """The source has FILES files, scanned and cloned onto the drive."""
    for i in range(FILES):
        put(bare_sites.source_store, f"run{i % 7}/file-{i:03}.dat", content(i))
    assert run_task(bare_sites.source, "scan") == "succeeded"
    assert run_task(bare_sites.source, "clone") == "succeeded"
    return bare_sites


def export(sites: Sites) -> dict[str, object]:
    result = sexton(sites.source_config, "export", "drive", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def drive_store(sites: Sites):
    return open_store("drive", StoreSettings(url=sites.drive.as_uri()))


def damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.timeout(300)  # a few CLI processes, each importing Sexton afresh
def test_a_drive_of_100_files_with_one_damaged_ingests_99_and_reports_the_one(sites: Sites):
    exported = export(sites)
    assert exported["files"] == FILES and exported["site"] == "alpha"
    damaged = "run3/file-010.dat"
    damage(sites.drive / damaged)

    result = sexton(sites.destination_config, "import", MANIFEST_NAME, "--from", "drive", "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert (report["listed"], report["ingested"], report["damaged"]) == (FILES, FILES - 1, 1)
    assert report["missing"] == report["conflicts"] == report["already_held"] == 0
    (problem,) = report["problems"]
    assert problem["name"] == damaged and problem["problem"] == "damaged"
    assert report["bytes"] == sum(len(content(i)) for i in range(FILES)) - len(content(10))

    archived = sites.archived()
    assert len(archived) == FILES - 1 and set(archived.values()) == {"present"}
    assert damaged not in archived and not (sites.archive / damaged).exists()
    on_disk = sorted(str(p.relative_to(sites.archive)) for p in sites.archive.rglob("*"))
    assert [p for p in on_disk if (sites.archive / p).is_file()] == sorted(archived)
    shown = sites.catalog(sites.destination).show("run0/file-000.dat")
    source_file = sites.catalog(sites.source).show("run0/file-000.dat").file
    assert (shown.file.size, shown.file.checksum) == (source_file.size, source_file.checksum)
    assert shown.file.source == "sneakernet:alpha"
    (copy,) = shown.instances
    assert copy.verified_checksum == source_file.checksum
    assert copy.deletion_policy == "disallowed"

    again = sexton(sites.destination_config, "import", MANIFEST_NAME, "--from", "drive", "--json")
    assert again.returncode == 1  # the damaged file is still damaged, and says so
    second = json.loads(again.stdout)
    assert (second["ingested"], second["already_held"], second["damaged"]) == (0, FILES - 1, 1)
    assert sites.archived() == archived


def test_a_clean_drive_imports_under_the_receive_clone_tasks_deletion_policy(sites: Sites):
    export(sites)
    receiver = sites.destination_config.with_name("receiver.json")  # librarian's format
    receiver.write_text(
        json.dumps(
            {
                "recieve_clone": [
                    {
                        "task_name": "Clone receiver",
                        "every": "01:00:00",
                        "deletion_policy": "ALLOWED",
                        "files_per_run": 1024,
                    }
                ]
            }
        )
    )
    sites.write_config(
        "site: beta\ninclude: [receiver.json]\n"
        f"stores:\n  drive: {{url: '{sites.drive.as_uri()}'}}\n"
        f"  archive: {{url: '{sites.archive.as_uri()}'}}\n",
        name="beta-receiving.yaml",
    )
    config = sites.destination_config.with_name("beta-receiving.yaml")
    local_manifest = str(sites.drive / MANIFEST_NAME)  # a local path works as well as a name
    result = sexton(config, "import", local_manifest, "--from", "drive", "--to", "archive")
    assert result.returncode == 0, result.stderr
    assert f"{FILES} ingested into archive" in result.stdout and "0 damaged" in result.stdout
    policies = {
        i.deletion_policy
        for r in sites.catalog(sites.destination).ls(store="archive")
        for i in sites.catalog(sites.destination).show(r.file.name).instances
    }
    assert policies == {"allowed"}


def test_the_manifest_lists_the_catalogs_copies_on_the_drive(sites: Sites):
    done = export_manifest(catalog_of(sites.source), drive_store(sites), "alpha")
    manifest = read_manifest_from(drive_store(sites), MANIFEST_NAME)
    assert manifest == done.manifest and manifest.store == "drive"
    copies = {r.file.name: r for r in catalog_of(sites.source).ls(store="drive")}
    assert {f.name: (f.size, f.checksum) for f in manifest.files} == {
        name: (r.file.size, r.file.checksum) for name, r in copies.items()
    }
    assert not [p for p in sites.drive.rglob(".sexton-tmp-*")]  # written whole, then renamed


def test_missing_files_and_conflicting_names_are_reported_and_the_rest_ingested(sites: Sites):
    done = export_manifest(catalog_of(sites.source), drive_store(sites), "alpha")
    (sites.drive / "run1/file-001.dat").unlink()
    other = sites.archive / "run2/file-002.dat"  # someone else's file under that name
    put(sites.archive, "run2/file-002.dat", b"not the same")
    adopted = sites.archive / "run4/file-004.dat"  # an import killed after the rename
    adopted.parent.mkdir(parents=True, exist_ok=True)
    adopted.write_bytes(content(4))
    archive = open_store("archive", StoreSettings(url=sites.archive.as_uri()))

    report = import_drive(catalog_of(sites.destination), done.manifest, drive_store(sites), archive)
    troubles = {t.name: t.problem for t in report.troubles}
    assert troubles == {"run1/file-001.dat": "missing", "run2/file-002.dat": "conflict"}
    assert len(report.ingested) == FILES - 2 and "run4/file-004.dat" in sites.archived()
    assert other.read_bytes() == b"not the same"


def test_a_full_destination_stops_cleanly_and_reports_what_did_not_fit(sites: Sites):
    done = export_manifest(catalog_of(sites.source), drive_store(sites), "alpha")
    small = open_store("archive", StoreSettings(url=sites.archive.as_uri(), capacity=2000))
    report = import_drive(catalog_of(sites.destination), done.manifest, drive_store(sites), small)
    assert report.ingested and report.count("no_room") == FILES - len(report.ingested)
    assert sum(f.size for f in report.ingested) <= 2000
    assert set(sites.archived()) == {f.name for f in report.ingested}


def manifest_with(entry: dict[str, object]) -> bytes:
    return json.dumps(
        {
            "format": "sexton-sneakernet/1",
            "site": "alpha",
            "store": "drive",
            "exported_at": "2026-01-05T00:00:00Z",
            "files": [{"checksum": "sha256:" + "0" * 64, **entry}],
        }
    ).encode()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "../etc/passwd", "path": "x", "size": 1}, "files.0.name: file name"),
        ({"name": "a", "path": "/abs", "size": 1}, "files.0.path: file name '/abs' is absolute"),
        ({"name": "a", "path": "a", "size": -1}, "files.0.size"),
        ({"name": "a", "path": "a", "size": 1, "checksum": "sha256:zz"}, "bad sha256 checksum"),
        ({"name": "a", "path": "a"}, "files.0.size: Field required"),
    ],
)
def test_bad_manifests_are_refused_naming_the_entry_and_the_problem(
    entry: dict[str, object], message: str
):
    with pytest.raises(SneakernetError) as caught:
        parse_manifest(manifest_with(entry), "drive:m.json")
    assert str(caught.value).startswith("drive:m.json: ") and message in str(caught.value)


def test_an_unsafe_name_in_a_manifest_is_one_line_exit_2_and_changes_nothing(
    bare_sites: Sites, tmp_path: Path
):
    path = tmp_path / "bad.json"
    path.write_bytes(manifest_with({"name": "../etc/passwd", "path": "x", "size": 1}))
    result = sexton(bare_sites.destination_config, "import", str(path), "--from", "drive")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "'../etc/passwd'" in result.stderr
    assert bare_sites.archived() == {} and not list(bare_sites.archive.iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere.json", "--from", "drive"], "no manifest 'nowhere.json' on store drive"),
        (["m.json", "--from", "drvie"], "no store named 'drvie'"),
        (["m.json", "--from", "drive", "--to", "drive"], "another store"),
    ],
)
def test_bad_import_arguments_are_one_line_errors(sites: Sites, args: list[str], message: str):
    result = sexton(sites.destination_config, "import", *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def confirmed_at_source(sites: Sites) -> list[tuple[str, str, str | None]]:
    query = sa.select(
        remote_instances.c.site, remote_instances.c.store, remote_instances.c.checksum
    ).order_by(remote_instances.c.id)
    with sites.source.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def telling(sites: Sites, source_url: str, calls: str = "") -> Path:
    """The destination's config again, now with the source under `sites:`."""
    sites.write_config(
        f"site: beta\nsites:\n  alpha: {{url: '{source_url}', token: {FROM_BETA}{calls}}}\n"
        f"stores:\n  drive: {{url: '{sites.drive.as_uri()}'}}\n"
        f"  archive: {{url: '{sites.archive.as_uri()}'}}\n",
        name="beta-telling.yaml",
    )
    return sites.destination_config.with_name("beta-telling.yaml")


@pytest.mark.timeout(300)
def test_when_the_sites_can_talk_the_source_records_the_confirmed_copies(sites: Sites):
    export(sites)
    server = ApiServer(sites.source)
    config = telling(sites, server.start())
    try:
        args = ("import", MANIFEST_NAME, "--from", "drive", "--notify-source", "--json")
        result = sexton(config, *args)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["notified"] == {"site": "alpha", "confirmed": FILES}
        again = sexton(config, *args)  # told again: nothing recorded twice
        assert json.loads(again.stdout)["notified"] == {"site": "alpha", "confirmed": FILES}
    finally:
        server.stop()
    confirmed = confirmed_at_source(sites)
    checksums = {r.file.checksum for r in catalog_of(sites.source).ls(store="drive")}
    assert len(confirmed) == FILES and {(s, st) for s, st, _ in confirmed} == {("beta", "archive")}
    assert {c for _, _, c in confirmed} == checksums


def test_an_unreachable_source_is_reported_and_the_import_stands(sites: Sites):
    export(sites)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    config = telling(sites, closed, ", attempts: 1, timeout: 2s")
    result = sexton(config, "import", MANIFEST_NAME, "--from", "drive", "--notify-source")
    assert result.returncode == 1
    assert "could not tell site alpha" in result.stderr and "run the import again" in result.stderr
    assert len(sites.archived()) == FILES and confirmed_at_source(sites) == []


# -- BagIt -----------------------------------------------------------------------------------

BAGIT = str(Path(sys.executable).parent / "bagit.py")  # bagit-python's own validator


def bagit_validate(bag: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, BAGIT, "--validate", str(bag)], capture_output=True, text=True
    )


@pytest.mark.timeout(300)
def test_a_drive_exported_as_a_bag_passes_bagit_validation_and_imports_whole(sites: Sites):
    result = sexton(sites.source_config, "export", "drive", "--bag", "--json")
    assert result.returncode == 0, result.stderr
    exported = json.loads(result.stdout)
    assert (exported["files"], exported["bag"], exported["site"]) == (FILES, True, "alpha")

    checked = bagit_validate(sites.drive)
    assert checked.returncode == 0, checked.stderr
    assert "is valid" in checked.stderr
    assert (sites.drive / "data/run0/file-000.dat").read_bytes() == content(0)
    info = (sites.drive / "bag-info.txt").read_text()
    assert "Source-Organization: alpha" in info and f"Payload-Oxum: {exported['bytes']}." in info
    assert MANIFEST_NAME in (sites.drive / "tagmanifest-sha256.txt").read_text()
    # The source's catalog follows its copies into the bag's payload directory.
    on_drive = {r.path for r in catalog_of(sites.source).ls(store="drive")}
    assert on_drive == {f"data/run{i % 7}/file-{i:03}.dat" for i in range(FILES)}

    imported = sexton(sites.destination_config, "import", "--from", "drive", "--json")
    assert imported.returncode == 0, imported.stderr
    report = json.loads(imported.stdout)
    assert (report["site"], report["listed"], report["ingested"]) == ("alpha", FILES, FILES)
    archived = sites.archived()
    assert len(archived) == FILES and set(archived.values()) == {"present"}
    assert (sites.archive / "run3/file-010.dat").read_bytes() == content(10)
    shown = sites.catalog(sites.destination).show("run3/file-010.dat").file
    assert shown.checksum == sites.catalog(sites.source).show("run3/file-010.dat").file.checksum


def test_a_bag_with_a_damaged_file_is_refused_before_anything_is_ingested(sites: Sites):
    assert sexton(sites.source_config, "export", "drive", "--bag").returncode == 0
    damage(sites.drive / "data/run3/file-010.dat")

    result = sexton(sites.destination_config, "import", "--from", "drive")

    assert result.returncode == 2
    assert "bag on store drive is not valid" in result.stderr
    assert "data/run3/file-010.dat" in result.stderr and "Traceback" not in result.stderr
    assert sites.archived() == {} and list(sites.archive.iterdir()) == []
    # bagit-python agrees with the refusal.
    assert bagit_validate(sites.drive).returncode != 0


def test_a_bag_made_by_another_tool_is_imported_from_its_own_manifest(bare_sites: Sites):
    import bagit

    for i in range(3):
        put(bare_sites.drive, f"pages/{i}.html", content(i))
    bagit.make_bag(str(bare_sites.drive), {"Source-Organization": "gamma"})

    result = sexton(bare_sites.destination_config, "import", "--from", "drive", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ingested"] == 3
    assert bare_sites.archived() == {f"pages/{i}.html": "present" for i in range(3)}
    shown = bare_sites.catalog(bare_sites.destination).show("pages/2.html").file
    assert shown.source == "sneakernet:gamma" and shown.checksum.startswith("sha256:")


def test_a_plain_export_still_imports_without_naming_its_manifest(sites: Sites):
    export(sites)
    result = sexton(sites.destination_config, "import", "--from", "drive", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ingested"] == FILES


def test_exporting_a_bag_twice_is_refused_and_leaves_the_bag_valid(sites: Sites):
    assert sexton(sites.source_config, "export", "drive", "--bag").returncode == 0
    again = sexton(sites.source_config, "export", "drive", "--bag")
    assert again.returncode == 1
    assert "store drive is already a bag" in again.stderr
    assert bagit_validate(sites.drive).returncode == 0


def test_bag_with_another_manifest_name_is_refused_and_the_drive_left_as_it_was(sites: Sites):
    before = sorted(p.relative_to(sites.drive) for p in sites.drive.rglob("*"))
    result = sexton(sites.source_config, "export", "drive", "--bag", "--manifest", "x.json")
    assert result.returncode == 2
    assert "--manifest cannot be given with --bag" in result.stderr
    assert sorted(p.relative_to(sites.drive) for p in sites.drive.rglob("*")) == before


def test_a_foreign_bag_that_names_no_source_is_refused_naming_the_missing_tag(bare_sites: Sites):
    import bagit

    put(bare_sites.drive, "pages/0.html", content(0))
    bagit.make_bag(str(bare_sites.drive))

    result = sexton(bare_sites.destination_config, "import", "--from", "drive")

    assert result.returncode == 2
    assert "bag on store drive: bag-info.txt has no Source-Organization" in result.stderr
    assert bare_sites.archived() == {}


def test_an_export_killed_after_bagit_finished_is_completed_by_exporting_again(sites: Sites):
    import bagit

    bagit.make_bag(str(sites.drive), {"Source-Organization": "alpha"})  # then the export died

    result = sexton(sites.source_config, "export", "drive", "--bag", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["files"] == FILES
    on_drive = {r.path for r in catalog_of(sites.source).ls(store="drive")}
    assert on_drive == {f"data/run{i % 7}/file-{i:03}.dat" for i in range(FILES)}
    assert bagit_validate(sites.drive).returncode == 0
    imported = sexton(sites.destination_config, "import", "--from", "drive", "--json")
    assert json.loads(imported.stdout)["ingested"] == FILES
