"""Setting up: init, validate, db upgrade."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import click

from ..db import connect, upgrade
from .common import config_option, console, fail, open_instance, read_config

TEMPLATE = "sexton.yaml"


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
def init(directory: Path) -> None:
    """Write a commented sexton.yaml in DIRECTORY and create its database."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "sexton.yaml"
    if target.exists():
        fail(f"{target} already exists; not overwriting it", 2)
    target.write_text(files("sexton").joinpath("templates", TEMPLATE).read_text(encoding="utf-8"))
    instance = open_instance(target)
    console.print(f"wrote {target}; database {instance.config.database_url}", highlight=False)
    console.print("next: `sexton validate`, then `sexton serve`")


@click.command()
@config_option
def validate(config_path: Path | None) -> None:
    """Exit 0 when the config is valid; 2 with `file:line: path: problem` lines otherwise."""
    config = read_config(config_path)
    count = len(config.tasks)
    console.print(f"{config.path}: valid, {count} task{'s' if count != 1 else ''}", highlight=False)


@click.group()
def db() -> None:
    """The database."""


@db.command("upgrade")
@config_option
def db_upgrade(config_path: Path | None) -> None:
    """Apply pending schema migrations."""
    config = read_config(config_path)
    upgrade(connect(config.database_url))
    console.print(f"database {config.database_url} is up to date", highlight=False)
