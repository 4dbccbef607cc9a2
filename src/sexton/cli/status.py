"""`sexton status`: every task's state, last run, last success, next due, late or down."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ..engine.monitor import Monitor
from .common import config_option, console, open_instance, print_json, user_errors
from .timefmt import short_time

COLOURS = {
    "up": "green",
    "late": "yellow",
    "idle": "yellow",
    "down": "red",
    "running": "cyan",
    "paused": "dim",
}


@click.command()
@click.option("--json", "as_json", is_flag=True)
@config_option
@user_errors
def status(as_json: bool, config_path: Path | None) -> None:
    """Every task: status, last run, last success, next due, failures."""
    instance = open_instance(config_path)
    now = instance.clock.now()
    statuses = Monitor(instance.config, instance.engine).statuses(now)
    if as_json:
        print_json([s.to_json() for s in statuses])
        return
    table = Table(
        "task", "type", "status", "last run", "last success", "next due", "failures", "error"
    )
    for s in statuses:
        colour = COLOURS.get(s.status, "white")
        due = short_time(s.next_due)
        if s.retry_at:
            due = f"retry {short_time(s.retry_at)}"
        table.add_row(
            s.task,
            s.type,
            f"[{colour}]{s.status}[/{colour}]",
            short_time(s.last_run),
            short_time(s.last_success),
            due,
            str(s.failures),
            (s.error or "")[:60],
        )
    console.print(table)
