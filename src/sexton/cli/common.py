"""What every subcommand shares: finding and opening the config, output, user errors."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from ..config import Config, ConfigError, load_config
from ..db import SchemaOutOfDate
from ..engine.runbook import RunRefused
from ..engine.service import Instance
from ..tasks.registry import task_class

F = TypeVar("F", bound=Callable[..., Any])
EXIT_USAGE = 2

console = Console()


def config_option(function: F) -> F:
    """``-c FILE`` / ``--config FILE`` on every subcommand, after its own arguments too."""
    return click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Config file (default: $SEXTON_CONFIG, then ./sexton.yaml).",
    )(function)


def config_path(given: Path | None) -> Path:
    if given is not None:
        return given
    return Path(os.environ.get("SEXTON_CONFIG") or "sexton.yaml")


def fail(message: str, code: int = 1) -> NoReturn:
    """One unwrapped line on stderr (scripts grep it), then exit."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def read_config(given: Path | None) -> Config:
    path = config_path(given)
    if not path.exists():
        fail(f"no config file at {path} (use -c FILE, $SEXTON_CONFIG, or `sexton init`)", 2)
    try:
        return load_config(path, task_class)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_USAGE)


def open_instance(given: Path | None) -> Instance:
    config = read_config(given)
    try:
        return Instance.open(config)
    except SchemaOutOfDate as exc:
        fail(str(exc))
    except Exception as exc:  # an unreachable database is the user's to fix, not a traceback
        if type(exc).__module__.startswith(("sqlalchemy", "psycopg", "sqlite3")):
            fail(f"cannot open the database {config.database_url}: {exc.__class__.__name__}: {exc}")
        raise


def user_errors(function: F) -> F:
    """Turn refusals and unknown names into one clear line on stderr and exit 1."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except RunRefused as exc:
            fail(str(exc))
        except KeyError as exc:
            fail(str(exc.args[0]) if exc.args else str(exc))

    return wrapper  # type: ignore[return-value]


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))
