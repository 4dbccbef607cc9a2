"""`sexton simulate`: the runs of the next days, their overlaps and the busiest hour."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from ..durations import format_duration
from ..engine.simulate import read_history, simulate
from .common import config_option, console, print_json, read_config
from .readonly import read_only_database
from .timefmt import short_time


@click.command("simulate")
@click.option("--days", type=click.IntRange(1, 366), required=True, help="How far ahead.")
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]),
    default=None,
    help="Simulate from this UTC time instead of now (as if the service started then).",
)
@click.option("--json", "as_json", is_flag=True)
@config_option
def simulate_command(
    days: int, start: datetime | None, as_json: bool, config_path: Path | None
) -> None:
    """The runs each task would get over the next DAYS, from the config (and the database's
    last run durations, when there is one, for overlaps). Every run is assumed to succeed."""
    config = read_config(config_path)
    history = read_history(read_only_database(config))
    begin = start.replace(tzinfo=UTC) if start else datetime.now(UTC)
    simulation = simulate(config, begin, days, history)
    if as_json:
        print_json(simulation.to_json())
        return
    runs = Counter(r.task for r in simulation.runs if not r.skipped)
    skipped = Counter(r.task for r in simulation.runs if r.skipped)
    first = {}
    for run in reversed(simulation.runs):
        if not run.skipped:
            first[run.task] = run.at
    table = Table("task", "runs", "skipped", "first", "last duration")
    for task, duration in simulation.durations.items():
        table.add_row(
            escape(task),
            str(runs[task]),
            str(skipped[task]) if skipped[task] else "",
            short_time(first.get(task)),
            format_duration(duration) if duration is not None else "unknown",
        )
    console.print(f"{days} days from {short_time(simulation.start)}: {sum(runs.values())} runs")
    console.print(table)
    for overlap in simulation.overlaps:
        a, b = overlap.tasks
        what = "exclusive: one waits or skips" if overlap.exclusive else "run at once"
        console.print(
            f"overlap: {escape(a)} and {escape(b)} {overlap.runs} times, first "
            f"{short_time(overlap.first)} ({what})"
        )
    busiest = simulation.busiest_hour()
    if busiest is not None:
        console.print(f"busiest hour: {short_time(busiest[0])} with {busiest[1]} runs")
