"""`sexton plan`: what the deleting and copying duties would do now, changing nothing."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from ..clock import SystemClock
from ..plan import PlanFailed, plan, planning_tasks
from ..sizes import format_size
from .common import EXIT_USAGE, config_option, console, fail, print_json, read_config
from .readonly import read_only_database


@click.command("plan")
@click.argument("tasks", nargs=-1)
@click.option("--json", "as_json", is_flag=True)
@config_option
def plan_command(tasks: tuple[str, ...], as_json: bool, config_path: Path | None) -> None:
    """What TASKs (default: every deleting or copying task) would delete or copy now, and
    which verified copies make each deletion safe. Opens the database read-only."""
    config = read_config(config_path)
    try:
        specs = planning_tasks(config, tasks)
    except KeyError as exc:
        fail(str(exc.args[0]), EXIT_USAGE)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    try:
        steps = plan(config, read_only_database(config), SystemClock(), specs)
    except PlanFailed as exc:
        fail(str(exc))
    if as_json:
        print_json([s.to_json() for s in steps])
        return
    if not steps:
        console.print(f"nothing to delete or copy ({len(specs)} tasks looked at)")
        return
    table = Table("task", "action", "store", "path", "size", "reason", "safe by")
    for step in steps:
        action = step.action
        safe_by = "\n".join(
            f"{v.store} {v.checksum} {v.verified_at:%Y-%m-%d %H:%M}" if v.verified_at else v.store
            for v in action.safe_by
        )
        table.add_row(
            escape(step.task),
            action.action,
            escape(action.store),
            escape(action.path),
            format_size(action.bytes),
            escape(action.reason),
            escape(safe_by),
        )
    console.print(table)
