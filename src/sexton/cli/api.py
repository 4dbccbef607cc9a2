"""`sexton api` (the API and dashboard alone) and `sexton alerts` (Prometheus rules)."""

from __future__ import annotations

from pathlib import Path

import click

from .. import alerts as alert_rules
from ..promql import check_selector
from .common import config_option, open_instance, read_config
from .service import run_service


@click.command("api")
@config_option
def api_command(config_path: Path | None) -> None:
    """Only the HTTP API and dashboard, at api.listen (run as many as you like)."""
    run_service(open_instance(config_path), "api", scheduler=False, worker=False)


@click.command()
@click.option(
    "--selector",
    default=None,
    help="PromQL label matchers scoping every rule, e.g. 'job=\"sexton-b\"' "
    '(default: alerts.selector in the config, else job="sexton").',
)
@config_option
def alerts(selector: str | None, config_path: Path | None) -> None:
    """Print Prometheus alert rules for the configured tasks."""
    if selector is not None:
        try:
            selector = check_selector(selector)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--selector") from None
    click.echo(alert_rules.render(read_config(config_path), selector), nl=False)
