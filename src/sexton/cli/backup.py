"""`sexton backup`: list a backup task's backups, and protect one from retention."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ..backups import BackupBook, BackupRecord, UnknownBackup
from ..sizes import format_size
from .common import config_option, console, fail, open_instance, print_json
from .timefmt import short_time

BACKUP_TYPES = ("backup",)  # the task types whose runs write backups


def _book(config_path: Path | None, task: str) -> BackupBook:
    instance = open_instance(config_path)
    spec = instance.config.tasks.get(task)
    if spec is None or spec.type not in BACKUP_TYPES:
        fail(f"no backup task named {task!r} in the config")
    return BackupBook(instance.engine)


@click.group()
def backup() -> None:
    """Backups written by `backup` tasks: verification, drills, keep."""


@backup.command("ls")
@click.argument("task")
@click.option("--all", "include_deleted", is_flag=True, help="Include deleted backups.")
@click.option("--json", "as_json", is_flag=True)
@config_option
def ls(task: str, include_deleted: bool, as_json: bool, config_path: Path | None) -> None:
    """A backup task's backups, newest first, with verification and drill results."""
    found = _book(config_path, task).of_task(task, include_deleted=include_deleted)
    if as_json:
        print_json([b.to_json() for b in found])
        return
    table = Table("name", "size", "checksum", "verified", "drill", "keep")
    for b in found:
        table.add_row(
            b.name + (" (deleted)" if b.deleted_at else ""),
            format_size(b.size),
            b.checksum,
            _verification(b),
            _drill(b),
            "keep" if b.keep else "",
        )
    console.print(table)


def _verification(b: BackupRecord) -> str:
    if b.verify_ok is None:
        return "not verified"
    return f"{'ok' if b.verify_ok else 'FAILED'} {short_time(b.verified_at)}"


def _drill(b: BackupRecord) -> str:
    if b.last_drill is None:
        return ""
    outcome = "passed" if b.last_drill.ok else "FAILED"
    return f"{outcome} {short_time(b.last_drill.at)} ({b.drills} drills)"


@backup.command()
@click.argument("task")
@click.argument("name")
@click.option("--undo", is_flag=True, help="Let retention delete it again.")
@config_option
def keep(task: str, name: str, undo: bool, config_path: Path | None) -> None:
    """Keep one backup whatever the retention policy says."""
    try:
        _book(config_path, task).keep(task, name, keep=not undo)
    except UnknownBackup as exc:
        fail(str(exc.args[0]))
