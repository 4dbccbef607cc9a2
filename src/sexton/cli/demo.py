"""`sexton demo`: a working instance in a temporary directory, served in the foreground.

It looks after sample stores the way an archive would, within its first minute: a scan, a
fixity check that finds a file the demo damages on purpose, a clone that fills a small
drive, a drain of a crawler's disk, a backup of its own database with a restore drill, and a
heartbeat and a manual duty waiting for a person.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from ..engine.service import Instance
from .common import console, read_config
from .demo_data import write_bit_rot_script, write_records, write_warcs
from .service import run_service

# The file the `bit-rot` task damages, and where its good bytes can be found again.
DAMAGED = "records/record-0.txt"
DEMO_CONFIG = """\
# A demo Sexton looking after sample stores. Edit me and restart `sexton serve -c` me.
database: sqlite:///{root}/sexton.db
api: {{listen: "{listen}"}}
stores:
  store: {{url: "{root}/store"}}                             # sample records and WARC files
  small-drive: {{url: "{root}/clones/small", capacity: 5KB}}   # fills after a few files
  big-drive: {{url: "{root}/clones/big"}}
  crawler: {{url: "{root}/crawler"}}                         # a crawler's output disk
  archive: {{url: "{root}/archive"}}                         # where drained series go
  backups: {{url: "{root}/backups"}}
tasks:
  - name: scan-store
    type: scan                     # lists the store into the catalog and hashes new files
    store: store
    checksum_new: true
    at_start: true
    every: 1h
  - name: clone-to-drives
    type: create_local_clone       # one verified copy of each file, on the first drive with room
    clone_from: store
    clone_to: [small-drive, big-drive]
    disable_store_on_full: true    # small-drive fills and is disabled; big-drive takes over
    after: [scan-store]
  - name: bit-rot
    type: command                  # the demo damages {damaged} on purpose, as a failing disk would
    command: ["{python}", "{root}/bin/bit-rot.py", "{root}/store/{damaged}",
              "{root}/bin/bit-rot.done"]
    after: [clone-to-drives]
  - name: check-store
    type: check_integrity          # re-hashes every copy on the store: finds the damage, goes down
    store_name: store
    after: [bit-rot]
    every: 1m
  - name: repair-store
    type: repair                   # on demand: replaces damaged copies from verified clones
    stores: [store]
  - name: drain-crawler
    type: drain                    # packs the crawler's WARCs into series, verifies, deletes
    source: crawler
    prefix: crawl-2026/warcs
    destination: archive
    max_size: 7KB                  # two WARCs a series; the last waits for `sexton drain finish`
    at_start: true
    every: 1m
  - name: backup-database
    type: backup                   # this demo's own database, verified on the backup store
    source: {{sqlite: "{root}/sexton.db"}}
    destination: backups
    at_start: true
    every: 10m
  - name: restore-drill
    type: restore_drill            # restores the newest backup and counts what is in it
    backup_task: backup-database
    newest: true
    target: {{sqlite: "{root}/drill.sqlite"}}
    checks:
      - {{table: runs, min_rows: 1}}
    after: [backup-database]
  - name: nightly-export
    type: heartbeat                # a job elsewhere reports in: sexton ping nightly-export success
    every: 1m
  - name: usage-review
    type: manual                   # a person records it: sexton done usage-review --note ...
    every: 1d
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
    """A working instance in a temp dir: sample stores, files, tasks, served until Ctrl-C."""
    root = (directory or Path(tempfile.mkdtemp(prefix="sexton-demo-"))).resolve()
    write_sample_stores(root)
    config_file = root / "sexton.yaml"
    config_file.write_text(
        DEMO_CONFIG.format(root=root, listen=listen, python=sys.executable, damaged=DAMAGED)
    )
    instance = Instance.open(read_config(config_file))
    print_banner(root, config_file, f"http://{instance.config.settings.api.listen}/")
    run_service(instance, "demo")


def write_sample_stores(root: Path) -> None:
    """The store's records and WARCs, a crawler's disk of WARCs, and the empty drives."""
    write_records(root / "store" / "records")
    write_warcs(root / "store" / "warcs", "collection", 3)
    write_warcs(root / "crawler" / "crawl-2026" / "warcs", "crawl-2026", 5)
    write_bit_rot_script(root / "bin" / "bit-rot.py")
    for empty in ("clones/small", "clones/big", "archive", "backups"):
        (root / empty).mkdir(parents=True, exist_ok=True)


def print_banner(root: Path, config_file: Path, dashboard: str) -> None:
    """What the demo does in its first minute, and the commands that show it."""
    c = f"-c {config_file}"
    lines = [
        f"[bold]Sexton demo[/bold] in {root}",
        f"  dashboard: {dashboard}  (API under /api/v1)",
        f"  config:    {config_file}",
        "",
        "In its first minute it scans the store (records and WARC files) and hashes it, clones",
        "it onto small-drive until that fills and is disabled, then big-drive; damages",
        f"{DAMAGED} on purpose (task bit-rot), so check-store finds it and goes down;",
        "drains the crawler's WARCs into the archive; backs up its own database and",
        "restore-drills the backup. nightly-export (heartbeat) and usage-review (manual)",
        "wait for you.",
        "",
        "In another terminal try:",
        f"  sexton status {c}",
        f"  sexton runs {c}",
        f"  sexton catalog stats {c}",
        f"  sexton catalog show {DAMAGED} {c}",
        f"  sexton drain status {c}",
        f"  sexton backup ls backup-database {c}",
        f"  sexton ping nightly-export success {c}",
        f"  sexton done usage-review --note checked {c}",
        "",
        f"Repair {DAMAGED} from its verified clone (written to a temporary name, hashed,",
        "renamed only when it matches), see the history, check again, and clear the alarm",
        "(damage stays an alarm until a person says it is dealt with):",
        f"  sexton run repair-store {c}",
        f"  sexton catalog show {DAMAGED} {c}",
        f"  sexton run check-store {c}",
        f"  sexton clear check-store {c}",
        "",
        "Ctrl-C stops it cleanly.",
        "",
    ]
    for line in lines:
        # soft_wrap: a command stays on one line, to be copied whole from a narrow terminal
        console.print(line, highlight=False, markup=line.startswith("[bold]"), soft_wrap=True)
