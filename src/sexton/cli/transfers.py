"""`sexton transfers`: transfers to and from other sites, by state, with sizes and times."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from ..sizes import format_size
from ..transfer.records import STATES, TransferBook
from .common import config_option, console, open_instance, print_json, user_errors
from .timefmt import short_time

COLOURS = {"completed": "green", "failed": "red", "cancelled": "dim", "staged": "cyan"}


@click.command()
@click.option("--state", type=click.Choice(STATES), default=None, help="Only this state.")
@click.option(
    "--direction", type=click.Choice(["outgoing", "incoming"]), default=None, help="Only these."
)
@click.option("--site", default=None, help="Only transfers with this site.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@config_option
@user_errors
def transfers(
    state: str | None,
    direction: str | None,
    site: str | None,
    limit: int,
    as_json: bool,
    config_path: Path | None,
) -> None:
    """Transfers between sites, newest first, with a count per state."""
    instance = open_instance(config_path)
    book = TransferBook(instance.engine, instance.clock)
    found = book.listing(state, direction, site, limit)
    if as_json:
        print_json([t.to_json() for t in found])
        return
    table = Table(
        "id", "direction", "site", "state", "name", "size", "started", "finished", "error"
    )
    for t in found:
        colour = COLOURS.get(t.state, "white")
        table.add_row(
            str(t.id),
            t.direction,
            t.site,
            f"[{colour}]{t.state}[/{colour}]",
            t.name or "",
            format_size(t.size) if t.size is not None else "",
            short_time(t.started_at),
            short_time(t.finished_at),
            Text(t.error or ""),  # whole and wrapped, never read as markup
        )
    console.print(table)
    totals = book.totals()
    counts = ", ".join(f"{d} {s}: {n}" for (d, s), n in sorted(totals.by_state.items()))
    console.print(counts or "no transfers", highlight=False)
