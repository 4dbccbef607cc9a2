"""`sexton catalog`: look at files, their copies and marks; mark by hand; import listings."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table

from ..catalog import STATES, Catalog, CatalogError, CopiesPolicy, OpenStores
from ..catalog.fixity import found_in_words
from ..config.errors import did_you_mean
from ..engine.service import Instance
from ..sizes import format_size
from ..stores import StoreError
from .common import config_option, console, fail, open_instance, print_json
from .timefmt import short_time

F = TypeVar("F", bound=Callable[..., Any])


def catalog_errors(function: F) -> F:
    """Refusals (unknown file or store, ``../x``, a bad listing) as one line on stderr."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (CatalogError, StoreError) as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


def _open(config_path: Path | None) -> tuple[Instance, Catalog]:
    instance = open_instance(config_path)
    settings = instance.config.settings
    return instance, Catalog(instance.engine, instance.clock, settings.checksum)


def _known_store(instance: Instance, store: str | None) -> None:
    configured = instance.config.settings.stores
    if store is not None and store not in configured:
        fail(f"no store named {store!r} in the config{did_you_mean(store, configured)}", 2)


def _mark_and_value(text: str) -> tuple[str, str | None]:
    mark, sep, value = text.partition("=")
    return mark, (value if sep else None)


@click.group()
def catalog() -> None:
    """Files, their copies on stores, and their processing marks."""


@catalog.command("ls")
@click.option("--store", help="Only copies on this store.")
@click.option("--needs", "needs", metavar="MARK[=VALUE]", help="Only files lacking this mark.")
@click.option("--state", type=click.Choice(STATES), help="Only copies in this state.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many rows.")
@click.option("--json", "as_json", is_flag=True)
@config_option
@catalog_errors
def ls(
    store: str | None,
    needs: str | None,
    state: str | None,
    limit: int | None,
    as_json: bool,
    config_path: Path | None,
) -> None:
    """Files and their copies, by name."""
    instance, cat = _open(config_path)
    _known_store(instance, store)
    rows = cat.ls(store, _mark_and_value(needs) if needs else None, state, limit)
    if as_json:
        print_json([row.to_json() for row in rows])
        return
    table = Table("name", "size", "store", "state", "checksum")
    for row in rows:
        table.add_row(
            repr(row.file.name)[1:-1],
            format_size(row.file.size),
            row.store or "",
            row.state or "",
            row.file.checksum or "",
        )
    console.print(table)


@catalog.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@config_option
@catalog_errors
def show(name: str, as_json: bool, config_path: Path | None) -> None:
    """One file: size, checksum, copies, marks, latest fixity checks and repair history."""
    _instance, cat = _open(config_path)
    found = cat.show(name)
    if as_json:
        print_json(found.to_json())
        return
    file = found.file
    console.print(f"[bold]{repr(file.name)[1:-1]}[/bold]", highlight=False, markup=True)
    console.print(
        f"size {format_size(file.size)} ({file.size} bytes)  checksum {file.checksum or '-'}  "
        f"created {short_time(file.created_at)}  source {file.source or '-'}",
        highlight=False,
        markup=False,
    )
    copies = Table("store", "path", "state", "verified", "changed")
    for c in found.instances:
        copies.add_row(
            c.store,
            repr(c.path)[1:-1],
            c.state,
            short_time(c.verified_at),
            short_time(c.changed_at),
        )
    console.print(copies)
    flags = Table("mark", "value", "marked")
    for m in found.marks:
        flags.add_row(m.name, m.value, short_time(m.marked_at))
    console.print(flags)
    if found.checks:
        checks = Table("check", "store", "path", "found", "run", "at")
        for k in found.checks:
            checks.add_row(
                k.outcome,
                k.store,
                repr(k.path)[1:-1],
                found_in_words(k.outcome, k.checksum, k.detail),
                "" if k.run_id is None else str(k.run_id),
                short_time(k.at),
            )
        console.print(checks)
    if found.repairs:
        history = Table("repair", "store", "source", "detail", "at")
        for r in found.repairs:
            history.add_row(r.event, r.store, r.source or "", r.detail or "", short_time(r.at))
        console.print(history)


@catalog.command()
@click.option("--json", "as_json", is_flag=True)
@config_option
@catalog_errors
def stats(as_json: bool, config_path: Path | None) -> None:
    """Files, bytes, copies by state, and per store files, bytes and free space."""
    instance, cat = _open(config_path)
    settings = instance.config.settings
    result = cat.stats(OpenStores(settings.stores), CopiesPolicy.of(settings))
    if as_json:
        print_json(result.to_json())
        return
    console.print(f"{result.files} files, {format_size(result.bytes)}", highlight=False)
    console.print(
        f"under-replicated: {result.under_replicated}  lost: {result.lost}", highlight=False
    )
    console.print(
        "  ".join(f"{state}: {result.instances.get(state, 0)}" for state in STATES),
        highlight=False,
    )
    table = Table("store", "files", "bytes", "free", "enabled")
    for name, s in result.stores.items():
        free = "unknown" if s.free is None else format_size(s.free)
        table.add_row(name, str(s.files), format_size(s.bytes), free, "yes" if s.enabled else "no")
    console.print(table)


@catalog.command()
@click.argument("store")
@config_option
def enable(store: str, config_path: Path | None) -> None:
    """Take STORE back into use, on every host (the switch is kept in the database)."""
    _switch(store, True, config_path)


@catalog.command()
@click.argument("store")
@config_option
def disable(store: str, config_path: Path | None) -> None:
    """Take STORE out of use (a drive shipped away, a full disk), on every host."""
    _switch(store, False, config_path)


def _switch(store: str, enabled: bool, config_path: Path | None) -> None:
    """The API's switch (POST /stores/NAME/enable|disable), from the command line."""
    instance, cat = _open(config_path)
    _known_store(instance, store)
    action = "enabled" if enabled else "disabled"
    cat.set_store_enabled(store, enabled, f"{action} with sexton catalog")
    console.print(f"store {store} {action}", highlight=False)


@catalog.command()
@click.argument("name")
@click.argument("mark")
@click.argument("value", default="")
@config_option
@catalog_errors
def mark(name: str, mark: str, value: str, config_path: Path | None) -> None:
    """Mark a file as processed (MARK, or MARK with a VALUE such as a collection)."""
    _instance, cat = _open(config_path)
    cat.mark([name], mark, value)


@catalog.command()
@click.argument("name")
@click.argument("mark")
@config_option
@catalog_errors
def unmark(name: str, mark: str, config_path: Path | None) -> None:
    """Remove a mark (every value of it) from a file, so tasks process it again."""
    _instance, cat = _open(config_path)
    cat.unmark([name], mark)


@catalog.command()
@click.argument("needs", metavar="MARK[=VALUE]")
@click.option("--store", help="Only files with a present copy on this store.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many files.")
@click.option(
    "--failed",
    is_flag=True,
    help="Only the quarantined files: those the step failed on alone (mark MARK:failed).",
)
@click.option("--json", "as_json", is_flag=True)
@config_option
@catalog_errors
def needs(
    needs: str,
    store: str | None,
    limit: int | None,
    failed: bool,
    as_json: bool,
    config_path: Path | None,
) -> None:
    """Files lacking a mark, newest first; quarantined ones only with --failed."""
    instance, cat = _open(config_path)
    _known_store(instance, store)
    mark_name, value = _mark_and_value(needs)
    found = cat.needs(mark_name, value, store, limit=limit, failed=failed)
    if as_json:
        print_json([{**n.file.to_json(), "path": n.path} for n in found])
        return
    table = Table("name", "size", "created")
    for n in found:
        table.add_row(
            repr(n.file.name)[1:-1], format_size(n.file.size), short_time(n.file.created_at)
        )
    console.print(table)


@catalog.command("import-listing")
@click.argument("store")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_option
@catalog_errors
def import_listing(store: str, file: Path, config_path: Path | None) -> None:
    """Record a store's files from a `hadoop fs -ls -R` or JSON-lines listing."""
    instance, cat = _open(config_path)
    report = cat.import_listing(store, file, instance.config.settings.stores)
    console.print(
        f"{report.listed} listed: {report.new} new, {report.changed} changed, "
        f"{report.reappeared} back, {report.missing} missing",
        highlight=False,
    )
