"""`sexton api` (the API and dashboard alone) and `sexton alerts` (Prometheus rules)."""

from __future__ import annotations

from pathlib import Path

import click

from .. import alerts as alert_rules
from .common import config_option, open_instance, read_config
from .service import run_service


@click.command("api")
@config_option
def api_command(config_path: Path | None) -> None:
    """Only the HTTP API and dashboard, at api.listen (run as many as you like)."""
    run_service(open_instance(config_path), "api", scheduler=False, worker=False)


@click.command()
@config_option
def alerts(config_path: Path | None) -> None:
    """Print Prometheus alert rules for the configured tasks."""
    click.echo(alert_rules.render(read_config(config_path)), nl=False)
