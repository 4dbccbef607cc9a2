"""`sexton demo`: a working instance in a temporary directory, served in the foreground."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from ..engine.service import Instance
from .common import console, read_config
from .service import run_service

DEMO_CONFIG = """\
# A demo Sexton: a few duties on short schedules. Edit me and restart `sexton serve -c` me.
database: sqlite:///sexton.db
api: {{listen: "{listen}"}}
tasks:
  - name: fixity-sample
    type: command
    shell: true
    command: "sha256sum data/*.txt > fixity.txt && echo checked $(ls data | wc -l) files"
    cwd: {root}
    every: 10s
  - name: catalog-listing
    type: command
    command: [ls, -l, {root}/data]
    cron: "*/15 * * * * *"        # 6 fields: seconds first
    after: []
  - name: report
    type: command
    shell: true
    command: "echo fixity report: && cat fixity.txt"
    cwd: {root}
    after: [fixity-sample]       # runs after each success of fixity-sample
  - name: flaky-transfer
    type: command
    shell: true
    command: "test $(( $(date +%s) % 3 )) -ne 0 || {{ echo transfer failed >&2; exit 1; }}"
    every: 20s
    retries: {{max: 2, backoff: 2s}}
  - name: nightly-export
    type: heartbeat                # reports with: sexton ping nightly-export success -c {config}
    every: 30s
  - name: usage-review
    type: manual                   # record with: sexton done usage-review -c {config}
    every: 1m
"""


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to put the demo (default: a new temporary directory).",
)
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    help="Address of the dashboard and API (loopback: the demo has no tokens).",
)
def demo(directory: Path | None, listen: str) -> None:
    """A working instance in a temp dir: sample files, tasks, served until Ctrl-C."""
    root = directory or Path(tempfile.mkdtemp(prefix="sexton-demo-"))
    (root / "data").mkdir(parents=True, exist_ok=True)
    for number in range(5):
        (root / "data" / f"record-{number}.txt").write_text(f"sample record {number}\n")
    config_file = root / "sexton.yaml"
    config_file.write_text(DEMO_CONFIG.format(root=root, config=config_file, listen=listen))
    instance = Instance.open(read_config(config_file))
    console.print(f"[bold]Sexton demo[/bold] in {root}", highlight=False)
    console.print(f"  config:   {config_file}", highlight=False)
    console.print(f"  database: {instance.config.database_url}", highlight=False)
    console.print(
        f"  dashboard: http://{instance.config.settings.api.listen}/  (API under /api/v1)",
        highlight=False,
    )
    console.print("  in another terminal try:", highlight=False)
    for example in (
        "status",
        "runs",
        "runs show 1",
        "ping nightly-export success",
        "done usage-review --note checked",
        "run fixity-sample",
    ):
        console.print(f"    sexton {example} -c {config_file}", highlight=False, markup=False)
    console.print("  Ctrl-C stops it cleanly.\n")
    run_service(instance, "demo")
