"""SneakerNet drives as BagIt bags (RFC 8493), the packaging every archive's tools read.

``export_bag`` turns a drive filled by ``create_local_clone`` into a bag in place: bagit moves
the files under ``data/`` and writes their sha256 manifest; the catalog's copies on the drive
follow them there; the Sexton manifest (the catalog's own checksums and the source site) is
kept as a tag file, so the bag's tag manifest covers it too. ``read_bag`` validates a bag
(every payload and tag file against its manifests) before anything is ingested, and gives the
``Manifest`` that ``import_drive`` ingests: the Sexton one if the bag has it, else one made
from the bag's own manifest, so a bag made by another tool is accepted as well.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import bagit

from ..catalog import PRESENT, Catalog
from ..checksums import ALGORITHMS
from ..stores import Store
from ..stores.local import LocalStore
from .sneakernet import (
    MANIFEST_NAME,
    Export,
    Manifest,
    ManifestFile,
    SneakernetError,
    export_manifest,
    read_manifest_from,
)

DECLARATION = "bagit.txt"  # at a bag's root: what makes a directory a bag
PAYLOAD = "data/"
BAG_CHECKSUMS = ["sha256"]  # what bagit-python writes by default and every reader knows
SITE_KEY = "Source-Organization"  # bag-info.txt: who made the bag, the source site for us


def is_bag(drive: Store) -> bool:
    return drive.exists(DECLARATION)


def export_bag(catalog: Catalog, drive: Store, site: str) -> Export:
    """Make the drive a bag of its files, with the Sexton manifest as a tag file (see above)."""
    root = _local_root(drive)
    outside = _catalogued_outside_payload(catalog, drive)
    if is_bag(drive) and not outside:
        raise SneakernetError(f"store {drive.name} is already a bag ({DECLARATION} at its root)")
    if not is_bag(drive):
        if outside:
            raise SneakernetError(
                f"store {drive.name}: its files are under {PAYLOAD} but it is no bag: an export "
                f"killed while bagit hashed them; move them back to the root and export again"
            )
        drive.delete(MANIFEST_NAME, missing_ok=True)  # a plain export's: rewritten below
        info = {SITE_KEY: site, "External-Description": f"Sexton SneakerNet drive {drive.name}"}
        try:
            bagit.make_bag(root, info, checksums=BAG_CHECKSUMS)
        except (bagit.BagError, OSError) as exc:
            raise SneakernetError(f"cannot make store {drive.name} a bag: {exc}") from None
    # An export killed after bagit finished resumes here: the catalog still has them outside.
    catalog.move_copies_under(drive.name, PAYLOAD)
    done = export_manifest(catalog, drive, site)
    bagit.Bag(root).save()  # the tag manifest now lists the Sexton manifest as well
    return done


def _catalogued_outside_payload(catalog: Catalog, drive: Store) -> bool:
    """Whether the catalog records the drive's copies where they were before bagit moved
    them under ``data/`` (judged by one of them: the move is one rename, the record one
    transaction)."""
    sample = next(catalog.ls(store=drive.name, state=PRESENT, limit=1), None)
    if sample is None or sample.path is None:
        return False
    return not drive.exists(sample.path) and drive.exists(PAYLOAD + sample.path)


def read_bag(drive: Store, now: datetime) -> Manifest:
    """The manifest of the bag at the drive's root, once the whole bag is valid."""
    try:
        bag = bagit.Bag(_local_root(drive))
        bag.validate()
    except bagit.BagValidationError as exc:
        problems = "; ".join(str(d) for d in exc.details[:SHOWN]) or str(exc)
        raise SneakernetError(f"bag on store {drive.name} is not valid: {problems}") from None
    except bagit.BagError as exc:
        raise SneakernetError(f"store {drive.name} is not a readable bag: {exc}") from None
    if drive.exists(MANIFEST_NAME):
        return read_manifest_from(drive, MANIFEST_NAME)
    return _manifest_of(bag, drive, now)


SHOWN = 5  # validation problems named in the error; a bad drive can have thousands


def _manifest_of(bag: bagit.Bag, drive: Store, now: datetime) -> Manifest:
    """A manifest from a bag that has no Sexton one: names are payload paths under ``data/``."""
    site = _one(bag.info.get(SITE_KEY))
    if not site:
        raise SneakernetError(f"bag on store {drive.name}: bag-info.txt has no {SITE_KEY}")
    known = [a for a in bag.algorithms if a in ALGORITHMS]
    if not known:
        raise SneakernetError(f"bag on store {drive.name}: no manifest in a known checksum")
    algorithm = BAG_CHECKSUMS[0] if BAG_CHECKSUMS[0] in known else known[0]
    files = []
    try:
        for path, digests in sorted(bag.payload_entries().items()):
            path = path.replace(os.sep, "/")
            found = drive.info(path)
            size = found.size if found is not None else 0  # vanished since validation: missing
            checksum = f"{algorithm}:{digests[algorithm]}"
            name = path.removeprefix(PAYLOAD)
            files.append(ManifestFile(name=name, path=path, size=size, checksum=checksum))
    except ValueError as exc:  # a payload name Sexton refuses, such as one with `..`
        raise SneakernetError(f"bag on store {drive.name}: {exc}") from None
    try:
        bagged = datetime.fromisoformat(_one(bag.info.get("Bagging-Date")) or "").replace(
            tzinfo=UTC
        )
    except ValueError:
        bagged = now  # optional in RFC 8493
    return Manifest(site=site, store=drive.name, exported_at=bagged, files=files)


def _one(value: str | list[str] | None) -> str | None:
    """A bag-info value: a tag given more than once reads as a list; the first one counts."""
    return value[0] if isinstance(value, list) else value


def _local_root(drive: Store) -> str:
    """The drive's directory: bagit-python works on a local directory only."""
    if not isinstance(drive, LocalStore):
        raise SneakernetError(f"store {drive.name} is not a local directory: a bag must be one")
    return drive.root
