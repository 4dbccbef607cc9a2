"""`sexton drain`: the DRAINME / FINISH_DRAIN switches of drain tasks, and their status."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from ..catalog import OpenStores
from ..drain.records import FINISHING, RUNNING, STOPPED, DrainBook
from ..drain.status import DrainStatus, drain_statuses
from ..engine.service import Instance
from ..sizes import format_size
from ..tasks.drain import DrainTask
from .common import config_option, console, fail, open_instance, print_json
from .timefmt import short_time


@click.group()
def drain() -> None:
    """Drain tasks: start, stop or finish draining, and see every series' step."""


def _switch(task: str, state: str, config_path: Path | None) -> None:
    instance = open_instance(config_path)
    _check_drain_task(instance, task)
    DrainBook(instance.engine).set_switch(task, state, instance.clock.now())
    console.print(f"{task}: {state}", highlight=False)


def _check_drain_task(instance: Instance, task: str) -> None:
    spec = instance.config.tasks.get(task)
    if spec is None or spec.type != DrainTask.type:
        fail(f"no drain task named {task!r} in the config")


@drain.command()
@click.argument("task")
@config_option
def start(task: str, config_path: Path | None) -> None:
    """Let TASK drain (the DRAINME file): complete series go, the newest file waits."""
    _switch(task, RUNNING, config_path)


@drain.command()
@click.argument("task")
@config_option
def stop(task: str, config_path: Path | None) -> None:
    """Make TASK's runs do nothing until `sexton drain start` (removing DRAINME)."""
    _switch(task, STOPPED, config_path)


@drain.command()
@click.argument("task")
@config_option
def finish(task: str, config_path: Path | None) -> None:
    """The crawl is over: drain everything, the newest file and a part-filled series too
    (the FINISH_DRAIN file)."""
    _switch(task, FINISHING, config_path)


@drain.command()
@click.option("--all", "include_done", is_flag=True, help="List finished series too.")
@click.option("--json", "as_json", is_flag=True)
@config_option
def status(include_done: bool, as_json: bool, config_path: Path | None) -> None:
    """Per drain task: its switch, each series' step, size and error, the source's space."""
    instance = open_instance(config_path)
    statuses = drain_statuses(
        instance.config,
        DrainBook(instance.engine),
        OpenStores(instance.config.settings.stores),
        include_done=include_done,
    )
    if as_json:
        print_json([s.to_json() for s in statuses])
        return
    for s in statuses:
        _print_status(s)


def _print_status(s: DrainStatus) -> None:
    space = s.source
    where = f"{space.store}:{space.prefix}" if space.prefix else space.store
    if space.error:
        disk = f"[red]{space.error}[/red]"
    elif space.free is None:
        disk = "free space unknown"
    else:
        disk = f"{format_size(space.free)} free, {format_size(space.used or 0)} used"
    console.print(
        f"[bold]{s.task}[/bold] ({s.switch}): {where} → {s.destination}; {disk}; "
        f"{s.done_series} series done ({s.done_files} files, {format_size(s.done_bytes)})"
    )
    if not s.series:
        return
    table = Table("serial", "series", "step", "files", "size", "error", "retry at")
    for series in s.series:
        colour = "red" if series.state == "error" else "white"
        table.add_row(
            str(series.serial),
            series.name,
            f"[{colour}]{series.state}[/{colour}]",
            str(series.files),
            format_size(series.size),
            Text(series.error or ""),  # whole and wrapped, never read as markup
            short_time(series.retry_at),
        )
    console.print(table)
