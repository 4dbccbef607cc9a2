"""`sexton plan`: it lists what the next real runs delete and copy, with the copies that make
each deletion safe, and changes nothing while it looks."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from sexton.cli import main
from sexton.db import connect
from sexton.db.catalog_tables import files, instances
from sexton.db.tables import metadata

DAY = 86_400
STORES = ("store", "copy1", "copy2", "clone")
TASKS = """\
  - {name: scan-store, type: scan, store: store, checksum_new: true}
  - {name: scan-copy1, type: scan, store: copy1, checksum_new: true}
  - {name: scan-copy2, type: scan, store: copy2, checksum_new: true}
  - {name: delete, type: rolling_deletion, store_name: store, age_in_days: 0,
     number_of_copies: 2, max_verification_age: 7d}
  - {name: clone, type: create_local_clone, clone_from: copy2, clone_to: [clone],
     age_in_days: null}
"""
ACTION_KEYS = {"task", "type", "action", "store", "path", "bytes", "reason", "safe_by"}


def sexton(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "-c", str(config)])
    return result.exit_code, result.output


def archive(tmp_path: Path, database_url: str) -> Path:
    """Stores with files: ``a`` held on three stores, ``b`` on two, ``c`` on copy2 only;
    every store scanned with checksums, so every copy is verified."""
    lines = [f"database: {database_url}", "stores:"]
    for store in STORES:
        (tmp_path / store).mkdir()
        lines.append(f"  {store}: {{url: '{(tmp_path / store).as_uri()}'}}")
    config = tmp_path / "sexton.yaml"
    config.write_text("\n".join(lines) + "\ntasks:\n" + TASKS)
    placed = {"a": ("store", "copy1", "copy2"), "b": ("store", "copy1"), "c": ("copy2",)}
    old = time.time() - DAY
    for name, stores in placed.items():
        for store in stores:
            path = tmp_path / store / name
            path.write_bytes(f"contents of {name}".encode())
            os.utime(path, (old, old))
    for store in ("store", "copy1", "copy2"):
        code, output = sexton(config, "run", f"scan-{store}")
        assert code == 0, output
    return config


def copies(database_url: str) -> set[tuple[str, str, str]]:
    """Every copy the catalog holds: (store, path, state)."""
    engine = connect(database_url)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(instances.c.store, instances.c.path, instances.c.state))
        found = {tuple(row) for row in rows}
    engine.dispose()
    return found  # type: ignore[return-value]


def everything(tmp_path: Path, database_url: str) -> tuple[dict[str, int], dict[str, tuple]]:
    """Row counts of every table, and every store file's bytes and mtime."""
    engine = connect(database_url)
    with engine.connect() as connection:
        counts = {
            table.name: connection.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar_one()
            for table in metadata.sorted_tables
        }
    engine.dispose()
    stored = {
        str(path.relative_to(tmp_path)): (path.read_bytes(), path.stat().st_mtime_ns)
        for store in STORES
        for path in (tmp_path / store).rglob("*")
        if path.is_file()
    }
    return counts, stored


def test_plan_lists_exactly_what_the_next_runs_delete_and_copy(tmp_path, database_url):
    config = archive(tmp_path, database_url)
    code, output = sexton(config, "plan", "--json")
    assert code == 0, output
    planned = json.loads(output)
    assert all(set(step) == ACTION_KEYS for step in planned)
    assert {(s["task"], s["action"], s["store"], s["path"]) for s in planned} == {
        ("delete", "delete", "store", "a"),  # b has one other copy, not two
        ("clone", "copy", "clone", "a"),
        ("clone", "copy", "clone", "c"),
    }

    before = copies(database_url)
    for task in ("delete", "clone"):
        code, output = sexton(config, "run", task)
        assert code == 0, output
    after = copies(database_url)
    deleted = {(store, path) for store, path, state in after - before if state == "deleted"}
    added = {(store, path) for store, path, state in after - before if state == "present"}
    assert deleted == {(s["store"], s["path"]) for s in planned if s["action"] == "delete"}
    assert added == {(s["store"], s["path"]) for s in planned if s["action"] == "copy"}
    assert not (tmp_path / "store" / "a").exists()


def test_a_planned_deletion_names_the_verified_copies_that_make_it_safe(tmp_path, database_url):
    config = archive(tmp_path, database_url)
    code, output = sexton(config, "plan", "delete", "--json")
    assert code == 0, output
    (step,) = json.loads(output)
    assert step["type"] == "rolling_deletion" and step["bytes"] == len(b"contents of a")
    assert "2 verified copies elsewhere" in step["reason"]
    engine = connect(database_url)
    with engine.connect() as connection:
        checksum = connection.execute(
            sa.select(files.c.checksum).where(files.c.name == "a")
        ).scalar_one()
    engine.dispose()
    assert [v["store"] for v in step["safe_by"]] == ["copy1", "copy2"]
    assert {v["checksum"] for v in step["safe_by"]} == {checksum}
    assert all(v["verified_at"] for v in step["safe_by"])


def test_plan_changes_neither_the_database_nor_the_stores(tmp_path, database_url):
    config = archive(tmp_path, database_url)
    before = everything(tmp_path, database_url)
    code, output = sexton(config, "plan")
    assert code == 0, output
    assert "delete" in output and "copy" in output
    code, output = sexton(config, "plan", "--json")
    assert code == 0 and len(json.loads(output)) == 3
    assert everything(tmp_path, database_url) == before


def test_plan_refuses_an_unknown_task_and_one_that_plans_nothing(tmp_path, database_url):
    config = archive(tmp_path, database_url)
    code, output = sexton(config, "plan", "delet")
    assert code == 2
    assert "no task named 'delet'" in output and "delete" in output
    code, output = sexton(config, "plan", "scan-store")
    assert code == 2 and "scan-store" in output and "nothing to plan" in output
    assert "Traceback" not in output


def test_a_clone_plan_stops_where_the_destinations_fill_as_the_run_does(tmp_path, database_url):
    for store in ("store", "drive"):
        (tmp_path / store).mkdir()
    config = tmp_path / "sexton.yaml"
    config.write_text(
        f"database: {database_url}\nstores:\n"
        f"  store: {{url: '{(tmp_path / 'store').as_uri()}'}}\n"
        f"  drive: {{url: '{(tmp_path / 'drive').as_uri()}', capacity: 250}}\n"
        "tasks:\n"
        "  - {name: scan, type: scan, store: store, checksum_new: true}\n"
        "  - {name: clone, type: create_local_clone, clone_from: store, clone_to: [drive],\n"
        "     age_in_days: null, disable_store_on_full: true}\n"
    )
    for name in ("a", "b", "c"):
        (tmp_path / "store" / name).write_bytes(name.encode() * 100)
    assert sexton(config, "run", "scan")[0] == 0
    code, output = sexton(config, "plan", "clone", "--json")
    assert code == 0, output
    planned = [(s["store"], s["path"]) for s in json.loads(output)]
    assert len(planned) == 2  # 250 bytes hold two of the three

    code, output = sexton(config, "run", "clone")
    assert code == 1 and "no destination left" in output  # the drive filled and was disabled
    assert {("drive", p.name) for p in (tmp_path / "drive").iterdir()} == set(planned)
