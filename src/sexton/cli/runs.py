"""Commands about runs: run, trigger, runs, cancel, clear, ping, done."""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..db import reading
from ..engine.record import Run, get_run, list_runs, run_events_of
from ..engine.runbook import article
from ..engine.service import Instance
from ..engine.states import SUCCEEDED
from ..engine.worker import Worker
from ..sizes import format_size
from .common import config_option, console, fail, open_instance, print_json, user_errors
from .timefmt import short_time

PING_SIGNALS = ("start", "success", "fail")


@click.command("run")
@click.argument("task")
@click.option("--json", "as_json", is_flag=True, help="Print the finished run as JSON.")
@config_option
@user_errors
def run_command(task: str, as_json: bool, config_path: Path | None) -> None:
    """Run TASK now in the foreground, recorded like any run; exit 0 on success, 1 otherwise."""
    instance = open_instance(config_path)
    spec = instance.config.task(task)
    if spec.executor != "local":
        fail(f"{task} is {article(spec.executor)} task: it is not run by Sexton itself")
    worker = Worker(instance.config, instance.book, instance.clock, name=f"cli:{_host_pid()}")
    claimed = instance.book.start_now(task, worker.id, instance.clock.now(), worker.settings.lease)
    finished = _execute_with_heartbeat(
        worker, claimed, show_progress=sys.stdout.isatty() and not as_json
    )
    if finished is None:
        fail(f"run {claimed.id} was taken over by another worker")
    if as_json:
        print_json(finished.to_json())
    else:
        _print_outcome(finished)
    sys.exit(0 if finished.state == SUCCEEDED else 1)


def _execute_with_heartbeat(worker: Worker, run: Run, show_progress: bool) -> Run | None:
    """Run in this process, renewing the lease like a worker does."""
    done = threading.Event()
    interval = worker.settings.lease.total_seconds() / 3

    def beat() -> None:
        while not done.wait(interval):
            worker.heartbeat()

    beater = threading.Thread(target=beat, daemon=True)
    beater.start()
    try:
        if not show_progress:
            return worker.execute(run)
        columns = [
            TextColumn(f"[bold]{run.task}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[size]}"),
            TimeElapsedColumn(),
        ]
        with Progress(*columns, console=console, transient=True) as progress:
            bar = progress.add_task(run.task, total=None, size="")

            def update(items: int, nbytes: int, total: int | None) -> None:
                progress.update(bar, completed=items, total=total, size=format_size(nbytes))

            return worker.execute(run, on_progress=update)
    finally:
        done.set()


def _print_outcome(run: Run) -> None:
    colour = "green" if run.state == SUCCEEDED else "red"
    console.print(f"run {run.id} of {run.task}: [{colour}]{run.state}[/{colour}]", highlight=False)
    if run.items or run.bytes:
        console.print(f"  {run.items} items, {format_size(run.bytes)}")
    if run.error:
        console.print(f"  error: {run.error}", markup=False, highlight=False)
    if run.log_tail and run.state != SUCCEEDED:
        console.print(run.log_tail[-2000:], markup=False, highlight=False)


def _host_pid() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@click.command()
@click.argument("task")
@click.option("--json", "as_json", is_flag=True)
@config_option
@user_errors
def trigger(task: str, as_json: bool, config_path: Path | None) -> None:
    """Queue a run of TASK now for the workers."""
    instance = open_instance(config_path)
    run = instance.book.queue(task, "manual", instance.clock.now())
    if as_json:
        print_json(run.to_json())
    else:
        console.print(f"queued run {run.id} of {task}", highlight=False)


@click.command()
@click.argument("args", nargs=-1)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--state", default=None, help="Only runs in this state.")
@click.option("--json", "as_json", is_flag=True)
@config_option
@user_errors
def runs(
    args: tuple[str, ...], limit: int, state: str | None, as_json: bool, config_path: Path | None
) -> None:
    """History, newest first: `sexton runs [TASK]`; one run with its log: `sexton runs show ID`."""
    instance = open_instance(config_path)
    if args and args[0] == "show" and (len(args) == 2 or "show" not in instance.config.tasks):
        if len(args) != 2 or not args[1].isdigit():
            fail("usage: sexton runs show RUN_ID", 2)
        _show(instance, int(args[1]), as_json)
        return
    if len(args) > 1:
        fail("usage: sexton runs [TASK] [--limit N] [--json]", 2)
    task = args[0] if args else None
    if task is not None:
        instance.config.task(task)
    with reading(instance.engine) as connection:
        found = list_runs(connection, task=task, state=state, limit=limit)
    if as_json:
        print_json([r.to_json() for r in found])
        return
    table = Table("id", "task", "reason", "state", "attempt", "started", "took", "items", "error")
    for r in found:
        took = (
            (r.finished_at - r.started_at).total_seconds()
            if r.finished_at and r.started_at
            else None
        )
        table.add_row(
            str(r.id),
            r.task,
            r.reason,
            r.state,
            str(r.attempt),
            short_time(r.started_at or r.queued_at),
            f"{took:.1f}s" if took is not None else "",
            str(r.items),
            (r.error or "")[:60],
        )
    console.print(table)


def _show(instance: Instance, run_id: int, as_json: bool) -> None:
    with reading(instance.engine) as connection:
        run = get_run(connection, run_id)
        if run is None:
            fail(f"no run with id {run_id}")
        events = run_events_of(connection, run_id)
    if as_json:
        shape = run.to_json()
        shape["log_tail"] = run.log_tail
        shape["events"] = [
            {
                "at": e.at.isoformat().replace("+00:00", "Z"),
                "from": e.from_state,
                "to": e.to_state,
                "message": e.message,
            }
            for e in events
        ]
        print_json(shape)
        return
    for key, value in run.to_json().items():
        if value is not None:
            console.print(f"[bold]{key:>12}[/bold] {value}", highlight=False)
    console.print("[bold]events[/bold]")
    for e in events:
        move = f"{e.from_state or '·'} → {e.to_state}" if e.to_state else "event"
        console.print(
            f"  {short_time(e.at)}  {move}  {e.message or ''}", markup=False, highlight=False
        )
    if run.log_tail:
        console.print("[bold]log tail[/bold]")
        console.print(run.log_tail, markup=False, highlight=False)


@click.command()
@click.argument("run_id", type=int)
@config_option
@user_errors
def cancel(run_id: int, config_path: Path | None) -> None:
    """Cancel a queued run, or ask a running one to stop."""
    instance = open_instance(config_path)
    run = instance.book.cancel(run_id, instance.clock.now())
    if run.state == "cancelled":
        console.print(f"run {run_id} cancelled")
    else:
        console.print(f"run {run_id} is {run.state}: asked its worker to stop it")


@click.command()
@click.argument("task")
@config_option
@user_errors
def clear(task: str, config_path: Path | None) -> None:
    """Clear TASK's sticky error and failure count, once a person has looked."""
    instance = open_instance(config_path)
    instance.book.clear(task)
    console.print(f"cleared {task}")


@click.command()
@click.argument("task")
@click.argument("signal_name", metavar="start|success|fail", type=click.Choice(PING_SIGNALS))
@click.option("--exit-code", type=int, default=None, help="The job's exit status.")
@config_option
@user_errors
def ping(task: str, signal_name: str, exit_code: int | None, config_path: Path | None) -> None:
    """Report from a job run elsewhere."""
    instance = open_instance(config_path)
    spec = instance.config.task(task)
    if spec.executor != "heartbeat":
        fail(f"{task} is {article(spec.executor)} task; only heartbeat tasks take pings")
    run = instance.book.ping(task, signal_name, instance.clock.now(), exit_code)
    console.print(f"run {run.id} of {task}: {run.state}", highlight=False)


@click.command()
@click.argument("task")
@click.option("--note", default=None, help="What was done, for the record.")
@config_option
@user_errors
def done(task: str, note: str | None, config_path: Path | None) -> None:
    """Record a manual duty as done."""
    instance = open_instance(config_path)
    spec = instance.config.task(task)
    if spec.executor != "manual":
        fail(f"{task} is {article(spec.executor)} task; `sexton done` records manual duties")
    run = instance.book.record_done(task, note, instance.clock.now())
    console.print(f"recorded {task} as done (run {run.id})", highlight=False)
