"""/metrics and the alert rules: every rule names only metrics that are exported; run counters
are true counters (pruning history or upgrading the schema never lowers them)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from alembic import command
from ruamel.yaml import YAML
from served import Api
from sqlalchemy import text

import support
from sexton.alerts import render
from sexton.db import connect
from sexton.db.migrate import _alembic_config, upgrade
from sexton.engine.record import prune_history
from sexton.metrics import METRIC_NAMES


def scrape(api: Api) -> str:
    response = api.reader.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def exported(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")} | {
        re.split(r"[{ ]", line)[0] for line in text.splitlines() if line and line[0] != "#"
    }


def test_metrics_report_tasks_runs_and_the_service(api: Api) -> None:
    api.admin.post("/api/v1/tasks/hello/runs")
    api.worker().run_once()
    api.admin.post("/api/v1/tasks/initial-sync/runs")
    text = scrape(api)
    assert 'sexton_task_runs_total{outcome="succeeded",task="hello",type="test_note"} 1.0' in text
    assert 'sexton_task_status{status="up",task="hello",type="test_note"} 1.0' in text
    assert 'sexton_task_items_processed_total{task="hello",type="test_note"} 3.0' in text
    assert 'sexton_task_last_success_timestamp_seconds{task="hello"' in text
    assert 'sexton_queue_depth{executor="external"} 1.0' in text
    assert "sexton_workers_alive 0.0" in text
    names = {n for n in exported(text) if n.startswith("sexton_")}
    assert (
        names - {"sexton_task_runs", "sexton_task_items_processed", "sexton_task_bytes_processed"}
        <= METRIC_NAMES
    )


def test_run_counters_survive_pruning_and_deleting_history(api: Api) -> None:
    for _ in range(2):
        api.admin.post("/api/v1/tasks/hello/runs")
        api.worker().run_once()
    api.admin.post("/api/v1/tasks/holder/runs")
    cancelled = api.admin.get("/api/v1/runs", params={"task": "holder"}).json()[0]["id"]
    api.admin.post(f"/api/v1/runs/{cancelled}/cancel")
    cancels = 'sexton_task_runs_total{outcome="cancelled",task="holder",type="test_wait"} 1.0'
    before = scrape(api)
    assert 'sexton_task_runs_total{outcome="succeeded",task="hello",type="test_note"} 2.0' in before
    assert cancels in before

    prune_history(api.instance.engine, api.instance.clock.now() + timedelta(days=1))
    assert api.admin.get("/api/v1/runs").json() == []
    api.admin.post("/api/v1/tasks/hello/runs")
    api.worker().run_once()
    assert api.admin.delete("/api/v1/tasks/hello/runs").json()["deleted"] == 1

    after = scrape(api)
    assert 'sexton_task_runs_total{outcome="succeeded",task="hello",type="test_note"} 3.0' in after
    assert cancels in after
    assert 'sexton_task_items_processed_total{task="hello",type="test_note"} 9.0' in after


def test_upgrading_starts_the_counters_from_the_kept_history(database_url: str) -> None:
    engine = connect(database_url)
    command.upgrade(_alembic_config(engine), "0007")
    stamp = {"at": support.START.replace(tzinfo=None)}
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO task_state (task, first_seen_at) VALUES ('t', :at), ('idle', :at)"),
            stamp,
        )
        for state, items in [("succeeded", 3), ("succeeded", 4), ("failed", 1), ("running", 9)]:
            connection.execute(
                text(
                    "INSERT INTO runs (task, reason, state, queued_at, not_before, items, bytes)"
                    " VALUES ('t', 'manual', :state, :at, :at, :items, :items)"
                ),
                {**stamp, "state": state, "items": items},
            )
    upgrade(engine)
    with engine.connect() as connection:
        totals = connection.execute(
            text(
                "SELECT task, runs_succeeded, runs_failed, runs_cancelled, items_done, bytes_done"
                " FROM task_state ORDER BY task"
            )
        ).all()
    engine.dispose()
    assert [tuple(row) for row in totals] == [("idle", 0, 0, 0, 0, 0), ("t", 2, 1, 0, 8, 8)]


def test_alert_rules_parse_and_use_only_exported_metrics(api: Api) -> None:
    rules = YAML(typ="safe").load(render(api.instance.config))
    all_rules = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {r["alert"] for r in all_rules} >= {
        "SextonTaskDown",
        "SextonTaskOverdue",
        "SextonTaskFailing",
        "SextonCorruptInstances",
        "SextonStoreNearlyFull",
        "SextonNoWorkers",
        "SextonDown",
    }
    for rule in all_rules:
        assert rule["for"] and rule["labels"]["severity"] and rule["annotations"]["description"]
        used = set(re.findall(r"\bsexton_[a-z_]+", rule["expr"]))
        assert used <= METRIC_NAMES, rule["expr"]
        assert used or rule["expr"].startswith("up{"), rule["expr"]  # Prometheus's own `up`
    failing = [r for r in all_rules if r["alert"] == "SextonTaskFailing"]
    assert 'sexton_task_consecutive_failures{job="sexton",task="hello"} >= 1' in [
        r["expr"] for r in failing
    ]


def test_sexton_alerts_prints_the_rules(tmp_path: Path) -> None:
    config = tmp_path / "sexton.yaml"
    config.write_text(
        "tasks:\n"
        "  - {name: nightly, type: command, command: ['true'], cron: '0 2 * * *'}\n"
        "  - {name: export, type: heartbeat, every: 1h, alert: {after_failures: 3}}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "sexton", "alerts", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rules = YAML(typ="safe").load(result.stdout)["groups"][1]["rules"]
    assert 'sexton_task_overdue_seconds{job="sexton",task="nightly"} > 86400' in [
        r["expr"] for r in rules
    ]
    assert 'sexton_task_consecutive_failures{job="sexton",task="export"} >= 3' in [
        r["expr"] for r in rules
    ]


def test_the_grafana_dashboard_uses_only_exported_metrics() -> None:
    dashboard = json.loads(
        (Path(__file__).parents[2] / "contrib/grafana-dashboard.json").read_text()
    )
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bsexton_[a-z_]+", target["expr"])
    }
    assert used == METRIC_NAMES
