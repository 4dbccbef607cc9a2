"""The `sexton` command line: thin — parse, call the engine, render."""

from __future__ import annotations

import click

from .api import alerts, api_command
from .backup import backup
from .catalog import catalog
from .demo import demo
from .drain import drain
from .events import events
from .plan import plan_command
from .runs import cancel, clear, done, ping, run_command, runs, trigger
from .service import scheduler, serve_command, worker
from .setup import db, init, validate
from .simulate import simulate_command
from .sneakernet import sneakernet
from .status import status
from .transfers import transfers


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sexton")
def main() -> None:
    """Sexton keeps the routine duties of a data archive running."""


for command in (
    demo,
    init,
    validate,
    serve_command,
    scheduler,
    worker,
    run_command,
    trigger,
    status,
    runs,
    cancel,
    clear,
    ping,
    done,
    db,
    catalog,
    backup,
    drain,
    sneakernet,
    api_command,
    alerts,
    transfers,
    events,
    plan_command,
    simulate_command,
):
    main.add_command(command)
