"""`sexton simulate`: the runs it foresees are the runs a scheduler creates."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, timedelta
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from sexton.cli import main
from sexton.db.tables import runs, task_state
from sexton.engine.scheduler import Scheduler
from sexton.engine.worker import Worker
from support import START

POLL = timedelta(hours=3)
TASKS = """\
scheduler: {poll: 3h}
tasks:
  - {name: six-hourly, type: test_note, every: 6h}
  - {name: nightly, type: test_note, cron: '30 2 * * *', timezone: America/New_York}
  - {name: weekly, type: test_note, cron: '0 0 0 * * 1', at_start: true}
  - {name: often-latest, type: test_note, every: 1h}
  - {name: often-all, type: test_note, every: 90m, catch_up: all}
  - {name: follower, type: test_note, after: [nightly], requires: [weekly]}
  - {name: off, type: test_note, every: 1h, enabled: false}
"""


def simulated(config: Path, *args: str) -> dict:
    result = CliRunner().invoke(
        main, ["simulate", *args, "--json", "-c", str(config)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def created(instance) -> dict[str, list[tuple[str, str | None]]]:
    """(reason, slot) of every run the instance holds, per task, oldest first."""
    query = sa.select(runs.c.task, runs.c.reason, runs.c.slot).order_by(runs.c.id)
    found: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    with instance.engine.connect() as connection:
        for task, reason, slot in connection.execute(query):
            found[task].append((reason, slot.astimezone(UTC).isoformat() if slot else None))
    return found


def test_simulated_month_is_the_month_a_fake_clock_scheduler_creates(
    open_instance, clock, tmp_path
):
    instance = open_instance(TASKS)
    foreseen = simulated(tmp_path / "sexton.yaml", "--days", "30", "--start", "2026-01-05")
    assert foreseen["from"] == START.isoformat()

    scheduler = Scheduler(instance.config, instance.book, clock)
    worker = Worker(instance.config, instance.book, clock)
    scheduler.start()
    while worker.run_once():
        pass
    end = START + timedelta(days=30)
    while clock.now() + POLL < end:
        clock.advance(POLL)
        scheduler.tick()
        while worker.run_once():
            pass

    expected: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for run in foreseen["runs"]:
        expected[run["task"]].append((run["reason"], run["slot"]))
    assert created(instance) == expected
    counts = {t["task"]: t["runs"] for t in foreseen["tasks"]}
    # Slots after the start and before the end: the start's own slot counts as handled.
    assert counts["six-hourly"] == 30 * 4 - 1 and counts["nightly"] == 30
    assert counts["often-latest"] == 30 * 8 - 1  # one run a tick: the newest of three slots
    assert counts["often-all"] == (30 * 8 - 1) * 2  # every slot, two a tick
    assert counts["weekly"] == 1 + 4  # at start, then the Mondays after it
    assert "off" not in counts


def test_a_follower_runs_after_its_leader_once_what_it_requires_has_run(tmp_path, write_config):
    write_config(TASKS)
    foreseen = simulated(tmp_path / "sexton.yaml", "--days", "2", "--start", "2026-01-05")
    follower = [r for r in foreseen["runs"] if r["task"] == "follower"]
    nightly = [r["at"] for r in foreseen["runs"] if r["task"] == "nightly"]
    assert [r["at"] for r in follower] == nightly  # no duration known: at the leader's end
    assert {r["reason"] for r in follower} == {"after"} and not any(r["skipped"] for r in follower)


def test_overlaps_come_from_last_run_durations_and_unknown_ones_are_said(open_instance, tmp_path):
    instance = open_instance(
        "tasks:\n"
        "  - {name: a, type: test_note, every: 1h}\n"
        "  - {name: b, type: test_note, every: 2h, exclusive_with: [a]}\n"
        "  - {name: c, type: test_note, every: 1h}\n"
        "  - {name: d, type: test_note, every: 6h, requires: [e]}\n"
        "  - {name: e, type: test_note}\n"
    )
    durations = {"a": 1800.0, "b": 600.0}  # what the engine recorded of their last runs
    with instance.engine.begin() as connection:
        for task, seconds in durations.items():
            connection.execute(
                sa.update(task_state).where(task_state.c.task == task).values(last_duration=seconds)
            )
    foreseen = simulated(tmp_path / "sexton.yaml", "--days", "1", "--start", "2026-01-05")
    assert foreseen["overlaps"] == [
        {"tasks": ["a", "b"], "runs": 11, "first": "2026-01-05T02:00:00+00:00", "exclusive": True}
    ]
    assert foreseen["unknown_durations"] == ["c", "d"]
    assert foreseen["busiest_hour"] == {"hour": "2026-01-05T02:00:00+00:00", "runs": 3}
    d_runs = [r for r in foreseen["runs"] if r["task"] == "d"]
    assert len(d_runs) == 3 and {r["skipped"] for r in d_runs} == {"requires e"}
    assert {t["task"]: t["duration"] for t in foreseen["tasks"]}["a"] == 1800.0


def test_human_output_names_runs_overlaps_and_the_busiest_hour(tmp_path, write_config):
    write_config(TASKS)
    result = CliRunner().invoke(
        main,
        ["simulate", "--days", "2", "--start", "2026-01-05", "-c", str(tmp_path / "sexton.yaml")],
    )
    assert result.exit_code == 0, result.output
    assert "six-hourly" in result.output and "busiest hour: 2026-01-05" in result.output
    assert "unknown" in result.output  # no database: no durations


def test_bad_days_are_refused_clearly(tmp_path, write_config):
    write_config(TASKS)
    result = CliRunner().invoke(
        main, ["simulate", "--days", "0", "-c", str(tmp_path / "sexton.yaml")]
    )
    assert result.exit_code == 2 and "--days" in result.output
