"""Prometheus alert rules for the configured tasks (`sexton alerts`).

Rules are generated from the config so each task's own ``alert.after_failures`` and grace
are honoured; every expression uses only metrics ``/metrics`` exports.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

from ruamel.yaml import YAML

from .config import Config
from .engine.monitor import grace_of

NEARLY_FULL = 0.05  # free share of a store below which people should act


def _selector(task: str) -> str:
    return "{task=" + json.dumps(task) + "}"  # a PromQL string: quotes and backslashes escaped


def _rule(
    name: str, expr: str, wait: str, severity: str, summary: str, description: str, **labels: str
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": wait,
        "labels": {"severity": severity, **labels},
        "annotations": {"summary": summary, "description": description},
    }


def rules(config: Config) -> dict[str, Any]:
    """The rules file as a mapping: one group for the service, one for the tasks."""
    service = [
        _rule(
            "SextonTaskDown",
            'sexton_task_status{status="down"} == 1',
            "5m",
            "critical",
            "{{ $labels.task }} is down",
            "The task is past its grace time or failing. Look at `sexton runs {{ $labels.task }}` "
            "and the run's log on the dashboard; fix the cause, then `sexton clear` if the "
            "error is sticky.",
        ),
        _rule(
            "SextonCorruptInstances",
            "sexton_store_corrupt_instances > 0",
            "1m",
            "critical",
            "Damaged copies on store {{ $labels.store }}",
            "{{ $value }} copies no longer match their checksum. See the dashboard's damaged "
            "files, restore each from a good copy, and check the store's hardware.",
        ),
        _rule(
            "SextonStoreNearlyFull",
            "sexton_store_free_bytes / (sexton_store_free_bytes + sexton_store_used_bytes)"
            f" < {NEARLY_FULL}",
            "30m",
            "warning",
            "Store {{ $labels.store }} is nearly full",
            "Less than 5% of its space is free. Add capacity, move data off it, or let "
            "Sexton disable it (disable_store_on_full) before writes fail.",
        ),
        _rule(
            "SextonMetricsAbsent",
            "absent(sexton_task_status)",
            "10m",
            "critical",
            "Sexton reports no metrics",
            "Prometheus gets no task metrics from Sexton: check that `sexton serve` (or "
            "`sexton api`) is running and that its database answers (/healthz).",
        ),
    ]
    if any(spec.executor == "local" for spec in config.tasks.values()):
        service.append(
            _rule(
                "SextonNoWorkers",
                "sexton_workers_alive == 0",
                "5m",
                "critical",
                "No Sexton worker is alive",
                "Runs are queued but no worker heartbeats. Start `sexton serve` or "
                "`sexton worker`, and check the hosts that ran them.",
            )
        )
    service.append(
        _rule(
            "SextonFilesLost",
            "sexton_store_lost_files > 0",
            "1m",
            "critical",
            "Files lost on store {{ $labels.store }}",
            "{{ $value }} files have no good copy left anywhere: every copy is corrupt or "
            "missing and no other site confirmed one, so repair cannot fix them. Restore them "
            "from a backup or their producer; `sexton catalog show FILE` lists each one's "
            "repair history.",
        )
    )
    return {
        "groups": [
            {"name": "sexton", "rules": service},
            {"name": "sexton-tasks", "rules": _task_rules(config)},
        ]
    }


def _task_rules(config: Config) -> list[dict[str, Any]]:
    now = datetime.now(UTC)  # a cron's period (the default grace) is taken near today
    found = []
    for spec in config.tasks.values():
        if not spec.settings.enabled:
            continue
        where = _selector(spec.name)
        failures = spec.settings.alert.after_failures
        found.append(
            _rule(
                "SextonTaskFailing",
                f"sexton_task_consecutive_failures{where} >= {failures}",
                "1m",
                "critical",
                f"{spec.name} failed {failures} time(s) in a row",
                f"The last {failures} run(s) of {spec.name} failed. Read the newest run's "
                f"error and log (`sexton runs {spec.name}`), fix it, then trigger a run.",
                task=spec.name,
            )
        )
        schedule = spec.schedule
        if schedule is None:
            continue
        grace = grace_of(spec, now)
        assert grace is not None
        found.append(
            _rule(
                "SextonTaskOverdue",
                f"sexton_task_overdue_seconds{where} > {int(grace.total_seconds())}",
                "1m",
                "warning",
                f"{spec.name} is overdue",
                f"{spec.name} has not succeeded since it was due, more than "
                f"{grace} ago. Check that a worker can run it (runs_on tags), that nothing it "
                f"requires or is exclusive with blocks it, or for a manual or heartbeat task, "
                f"that the person or job reported in.",
                task=spec.name,
            )
        )
    return found


def render(config: Config) -> str:
    """The rules file as YAML, ready for Prometheus's ``rule_files``."""
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096  # long expressions stay on one line
    out = io.StringIO()
    out.write(
        f"# Prometheus alert rules for Sexton ({config.path}); regenerate with `sexton alerts`\n"
    )
    yaml.dump(rules(config), out)
    return out.getvalue()
