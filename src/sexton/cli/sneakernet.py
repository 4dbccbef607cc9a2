"""`sexton sneakernet`: export a manifest (or make a BagIt bag) onto a drive filled by
`create_local_clone`, and import a shipped drive's files at the destination site."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.progress import Progress
from rich.table import Table

from ..catalog import DISALLOWED, Catalog, CatalogError, OpenStores, deletion_policy
from ..engine.service import Instance
from ..sizes import format_size
from ..stores import Store, StoreError
from ..transfer.bag import export_bag, is_bag, read_bag
from ..transfer.sneakernet import (
    MANIFEST_NAME,
    ImportReport,
    Manifest,
    Notified,
    OnFile,
    SneakernetError,
    export_manifest,
    import_drive,
    notify_source,
    parse_manifest,
    read_manifest_from,
)
from .common import EXIT_USAGE, config_option, console, fail, open_instance, print_json

RECEIVING_TYPE = "receive_clone"  # whose `deletion_policy` an import follows by default


@click.group()
def sneakernet() -> None:
    """Copies carried between sites on drives (SneakerNet)."""


@sneakernet.command("export")
@click.argument("store")
@click.option(
    "--site",
    help="This site's name, as the destination knows it "
    "(default: the config's `site:`, else the host name).",
)
@click.option(
    "--manifest",
    "name",
    default=MANIFEST_NAME,
    show_default=True,
    help="The manifest's name on the drive.",
)
@click.option(
    "--bag",
    is_flag=True,
    help="Make the drive a BagIt bag: its files move under data/, with sha256 manifests "
    "(the Sexton manifest is kept in the bag). The drive must be a local directory.",
)
@click.option("--json", "as_json", is_flag=True)
@config_option
def export(
    store: str, site: str | None, name: str, bag: bool, as_json: bool, config_path: Path | None
) -> None:
    """Write onto the drive STORE a manifest of the files the catalog holds there."""
    instance = open_instance(config_path)
    drive = _store(instance, store)
    site = site or instance.config.settings.site or socket.gethostname()
    if bag and name != MANIFEST_NAME:
        fail("--manifest cannot be given with --bag: the bag keeps the Sexton manifest", EXIT_USAGE)
    try:
        if bag:
            done = export_bag(_catalog(instance), drive, site)
        else:
            done = export_manifest(_catalog(instance), drive, site, name)
    except SneakernetError as exc:
        fail(str(exc))
    except StoreError as exc:
        fail(f"cannot write the manifest onto {store}: {exc}")
    if as_json:
        print_json({**done.to_json(), "bag": bag})
        return
    console.print(
        f"{store}:{done.name}: {len(done.manifest.files)} files, "
        f"{format_size(done.manifest.bytes)} from site {site}",
        highlight=False,
    )
    if done.unhashed:
        console.print(
            f"{done.unhashed} copies left out: no checksum yet (run check_integrity)",
            highlight=False,
        )


@sneakernet.command("import")
@click.argument("manifest", required=False)
@click.option("--from", "drive_name", required=True, help="The store the drive is mounted as.")
@click.option(
    "--to",
    "to",
    help="The store to ingest into "
    "(default: the config's `transfer.store`, else the only other store).",
)
@click.option(
    "--deletion-policy",
    "policy",
    type=click.Choice(["DISALLOWED", "ALLOWED"], case_sensitive=False),
    help="For the new copies (default: the receive_clone task's, else DISALLOWED).",
)
@click.option(
    "--notify-source",
    is_flag=True,
    help="Tell the source site (under `sites:`) which files arrived, so it counts them.",
)
@click.option("--json", "as_json", is_flag=True)
@config_option
def import_command(
    manifest: str | None,
    drive_name: str,
    to: str | None,
    policy: str | None,
    notify_source: bool,
    as_json: bool,
    config_path: Path | None,
) -> None:
    """Ingest a drive's files listed in MANIFEST (a name on the drive, or a local file),
    verifying each; exit 1 if any was missing, damaged or in conflict, or the source could
    not be told. Without MANIFEST: the BagIt bag at the drive's root (validated whole before
    anything is ingested), else the drive's sexton-manifest.json."""
    instance = open_instance(config_path)
    drive = _store(instance, drive_name)
    destination = _store(instance, to or _default_destination(instance, drive_name))
    if destination.name == drive.name:
        fail("--to must be another store than --from", EXIT_USAGE)
    listed = _manifest(manifest, drive, instance)
    if notify_source:
        _check_can_notify(instance, listed.site)
    try:
        with _progress(len(listed.files), show=not as_json) as on_file:
            report = import_drive(
                _catalog(instance),
                listed,
                drive,
                destination,
                deletion_policy(policy) if policy else _default_policy(instance),
                on_file,
            )
    except (StoreError, CatalogError) as exc:
        fail(str(exc))
    notified, unreachable = _notify(instance, report) if notify_source else (None, None)
    if as_json:
        extra = {} if not notify_source else {"notified": notified and notified.to_json()}
        print_json({**report.to_json(), **extra})
    else:
        _print_report(report)
        if notified is not None:
            counts = ", ".join(f"{n} {result}" for result, n in sorted(notified.results.items()))
            console.print(f"told site {notified.site}: {counts or 'nothing to tell'}")
    if unreachable is not None:
        click.echo(f"error: {unreachable}; run the import again to retell it", err=True)
    if not report.ok or unreachable is not None:
        raise SystemExit(1)


@contextmanager
def _progress(total: int, show: bool) -> Iterator[OnFile]:
    """A progress bar on a terminal (a drive holds hours of copying), else nothing."""
    if not (show and console.is_terminal):
        yield lambda entry: None
        return
    with Progress(console=console, transient=True) as bar:
        job = bar.add_task("importing", total=total)
        yield lambda entry: bar.advance(job)


def _catalog(instance: Instance) -> Catalog:
    return Catalog(instance.engine, instance.clock, instance.config.settings.checksum)


def _store(instance: Instance, name: str) -> Store:
    try:
        return OpenStores(instance.config.settings.stores)[name]
    except CatalogError as exc:
        fail(str(exc), EXIT_USAGE)
    except StoreError as exc:
        fail(str(exc))


def _default_destination(instance: Instance, drive: str) -> str:
    settings = instance.config.settings
    if settings.transfer.store is not None:
        return settings.transfer.store
    others = [name for name in settings.stores if name != drive]
    if len(others) != 1:
        fail("give --to STORE: the store to ingest into", EXIT_USAGE)
    return others[0]


def _default_policy(instance: Instance) -> str:
    """The receiving task's policy: one config says how copies from other sites are kept."""
    for spec in instance.config.tasks.values():
        if spec.type == RECEIVING_TYPE:
            configured = getattr(spec.params, "deletion_policy", None)
            if configured is not None:  # a plain string, or an enum of them
                return deletion_policy(str(getattr(configured, "value", configured)))
    return DISALLOWED


def _check_can_notify(instance: Instance, source: str) -> None:
    settings = instance.config.settings
    if settings.site is None:
        fail(
            "--notify-source needs `site:` in the config: this site's name at the source",
            EXIT_USAGE,
        )
    if source not in settings.sites:
        fail(
            f"--notify-source: no site named {source!r} (the manifest's) under `sites:`", EXIT_USAGE
        )


def _notify(instance: Instance, report: ImportReport) -> tuple[Notified | None, str | None]:
    """The source's answers, or why it could not be told (the import itself stands)."""
    from ..transfer.sites import SiteClient, SiteError  # HTTP only when it is used

    settings = instance.config.settings
    assert settings.site is not None  # checked before the import
    try:
        with SiteClient.for_site(settings.sites, report.site) as client:
            return notify_source(client, settings.site, report), None
    except SiteError as exc:
        return None, f"could not tell site {report.site}: {exc}"


def _manifest(given: str | None, drive: Store, instance: Instance) -> Manifest:
    try:
        if given is None and is_bag(drive):
            return read_bag(drive, instance.clock.now())
        given = given or MANIFEST_NAME
        local = Path(given)
        if local.is_file():
            return parse_manifest(local.read_bytes(), str(local))
        return read_manifest_from(drive, given)
    except (SneakernetError, StoreError) as exc:
        fail(str(exc), EXIT_USAGE)


def _print_report(report: ImportReport) -> None:
    summary = report.to_json()
    console.print(
        f"{report.listed} listed on {report.drive} from site {report.site}: "
        f"{summary['ingested']} ingested into {report.destination} "
        f"({format_size(summary['bytes'])}), {summary['already_held']} already held, "
        f"{summary['missing']} missing, {summary['damaged']} damaged, "
        f"{summary['conflicts']} in conflict, {summary['no_room']} without room",
        highlight=False,
    )
    if report.troubles:
        table = Table("file", "problem", "detail")
        for t in report.troubles:
            table.add_row(repr(t.name)[1:-1], t.problem, t.detail)
        console.print(table)
