"""Long-running parts: serve (everything in one process), scheduler, worker."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import click

from ..api.refusal import ApiRefused
from ..engine.service import Instance, serve, stop_on_signals
from .common import config_option, console, fail, open_instance


def run_service(instance: Instance, what: str, **parts: object) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()
    stop_on_signals(stop)
    console.print(
        f"sexton {what}: {len(instance.config.tasks)} tasks from {instance.config.path}, "
        f"database {instance.config.database_url}",
        highlight=False,
    )
    try:
        serve(instance, stop, **parts)  # type: ignore[arg-type]
    except ApiRefused as exc:  # e.g. no tokens on a non-loopback address: a config mistake
        fail(str(exc), code=2)
    console.print(f"sexton {what}: stopped cleanly")


def _tags(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


@click.command("serve")
@click.option("--tags", default=None, help="Comma-separated tags this host's worker offers.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None)
@config_option
def serve_command(tags: str | None, concurrency: int | None, config_path: Path | None) -> None:
    """Scheduler, workers, API and dashboard in one process (the embedded default)."""
    run_service(open_instance(config_path), "serve", tags=_tags(tags), concurrency=concurrency)


@click.command()
@config_option
def scheduler(config_path: Path | None) -> None:
    """Only the scheduler: creates due runs (run as many as you like)."""
    run_service(open_instance(config_path), "scheduler", worker=False, api=False)


@click.command()
@click.option("--tags", default=None, help="Comma-separated tags, matched against runs_on.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None)
@config_option
def worker(tags: str | None, concurrency: int | None, config_path: Path | None) -> None:
    """Only a worker: claims and runs queued runs of the tasks it can do."""
    run_service(
        open_instance(config_path),
        "worker",
        scheduler=False,
        api=False,
        tags=_tags(tags),
        concurrency=concurrency,
    )
