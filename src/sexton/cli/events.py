"""`sexton events export`: the catalog's preservation history (fixity checks, replication,
transfers, deletions) in a format other archive tools read: PREMIS 3 XML."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path

import click

from ..catalog import Catalog
from ..catalog.events import EventFile, PreservationEvent
from ..durations import parse_duration
from ..engine.service import Instance
from ..premis import write_premis
from .common import EXIT_USAGE, config_option, fail, open_instance

FORMATS = ("premis",)


@click.group()
def events() -> None:
    """The preservation history of the catalog's files."""


@events.command("export")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="premis",
    show_default=True,
    help="PREMIS 3 XML.",
)
@click.option(
    "--since",
    metavar="WHEN",
    help="Only events from then on: an ISO 8601 date or time (UTC unless it says), "
    "or a duration back from now such as 7d.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file (written whole, then renamed) instead of stdout.",
)
@config_option
def export(
    output_format: str, since: str | None, output: Path | None, config_path: Path | None
) -> None:
    """Write the fixity, replication, transfer and deletion events as PREMIS 3 XML."""
    instance = open_instance(config_path)
    start = None if since is None else _since(since, instance)
    catalog = Catalog(instance.engine, instance.clock, instance.config.settings.checksum)
    with catalog.history(start) as history:
        first = next(history.files, None)
        if first is None:  # PREMIS asks for at least one object: no document at all
            click.echo(f"no events{f' since {since}' if since else ''}: nothing written", err=True)
            return
        files = chain([first], history.files)
        if output is None:
            write_premis(sys.stdout.buffer, files, history.events)
            return
        written = _write_file(output, files, history.events)
    click.echo(f"{written} events written to {output}", err=True)


def _write_file(
    output: Path, files: Iterable[EventFile], events: Iterable[PreservationEvent]
) -> int:
    """Written under a temporary name and renamed: never a half export under the asked-for one."""
    partial = output.with_name(f".{output.name}.partial")
    try:
        with partial.open("wb") as out:
            written = write_premis(out, files, events)
        partial.replace(output)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        fail(f"cannot write {output}: {exc}")
    return written


def _since(given: str, instance: Instance) -> datetime:
    """``--since``: a moment, or a duration back from now."""
    try:
        moment = datetime.fromisoformat(given)
    except ValueError:
        try:
            return instance.clock.now() - parse_duration(given)
        except ValueError:
            fail(
                f"--since: {given!r} is neither an ISO 8601 date or time nor a duration "
                "(such as 2026-01-31, 2026-01-31T12:00:00Z or 7d)",
                EXIT_USAGE,
            )
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
