"""Prometheus alert rules for the configured tasks (`sexton alerts`).

Rules are generated from the config so each task's own ``alert.after_failures``, grace and
``idle_after`` are honoured; every expression uses only metrics ``/metrics`` exports (and
Prometheus's own ``up``), scoped by ``alerts.selector`` so two installs never collide.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from ruamel.yaml import YAML

from .config import Config
from .engine.monitor import grace_of
from .promql import series

NEARLY_FULL = 0.05  # free share of a store below which people should act


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


def rules(config: Config, selector: str | None = None) -> dict[str, Any]:
    """The rules file as a mapping: one group for the service, one for the tasks; every
    expression scoped by ``selector`` (default: the config's ``alerts.selector``)."""
    scope = config.settings.alerts.selector if selector is None else selector
    free, used = series("sexton_store_free_bytes", scope), series("sexton_store_used_bytes", scope)
    service = [
        _rule(
            "SextonDown",
            series("up", scope) + " == 0",
            "5m",
            "critical",
            "Prometheus cannot scrape Sexton at {{ $labels.instance }}",
            "The scrape of /metrics fails, so no other Sexton alert can fire. Check that "
            "`sexton serve` (or `sexton api`) runs, listens where Prometheus scrapes, and "
            "accepts its read token.",
        ),
        _rule(
            "SextonTaskDown",
            series("sexton_task_status", scope, status="down") + " == 1",
            "5m",
            "critical",
            "{{ $labels.task }} is down",
            "The task is past its grace time or failing. Look at `sexton runs {{ $labels.task }}` "
            "and the run's log on the dashboard; fix the cause, then `sexton clear` if the "
            "error is sticky.",
        ),
        _rule(
            "SextonCorruptInstances",
            series("sexton_store_corrupt_instances", scope) + " > 0",
            "1m",
            "critical",
            "Damaged copies on store {{ $labels.store }}",
            "{{ $value }} copies no longer match their checksum. See the dashboard's damaged "
            "files, restore each from a good copy, and check the store's hardware.",
        ),
        _rule(
            "SextonStoreNearlyFull",
            f"{free} / ({free} + {used}) < {NEARLY_FULL}",
            "30m",
            "warning",
            "Store {{ $labels.store }} is nearly full",
            "Less than 5% of its space is free. Add capacity, move data off it, or let "
            "Sexton disable it (disable_store_on_full) before writes fail.",
        ),
        _rule(
            "SextonMetricsAbsent",
            f"absent({series('sexton_task_status', scope)})",
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
                series("sexton_workers_alive", scope) + " == 0",
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
            series("sexton_store_lost_files", scope) + " > 0",
            "1m",
            "critical",
            "Files lost on store {{ $labels.store }}",
            "{{ $value }} files have no good copy left anywhere: every copy is corrupt or "
            "missing and no other site confirmed one, so repair cannot fix them. Restore them "
            "from a backup or their producer; `sexton catalog show FILE` lists each one's "
            "repair history.",
        )
    )
    if any(spec.settings.alert.idle_after for spec in config.tasks.values()):
        service.append(
            _rule(
                "SextonTaskIdle",
                series("sexton_task_status", scope, status="idle") + " == 1",
                "5m",
                "warning",
                "{{ $labels.task }} keeps succeeding but processes nothing",
                "Every run for longer than its alert.idle_after succeeded with 0 items (an "
                "indexer that indexes nothing). Check that its input still arrives where the "
                "task looks (paths, marks, the upstream job), in `sexton runs {{ $labels.task }}`.",
            )
        )
    return {
        "groups": [
            {"name": "sexton", "rules": service},
            {"name": "sexton-tasks", "rules": _task_rules(config, scope)},
        ]
    }


def _task_rules(config: Config, scope: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC)  # a cron's period (the default grace) is taken near today
    found = []
    for spec in config.tasks.values():
        if not spec.settings.enabled:
            continue
        failures = spec.settings.alert.after_failures
        found.append(
            _rule(
                "SextonTaskFailing",
                series("sexton_task_consecutive_failures", scope, task=spec.name)
                + f" >= {failures}",
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
                f"{series('sexton_task_overdue_seconds', scope, task=spec.name)}"
                f" > {int(grace.total_seconds())}",
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


def render(config: Config, selector: str | None = None) -> str:
    """The rules file as YAML, ready for Prometheus's ``rule_files``."""
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096  # long expressions stay on one line
    out = io.StringIO()
    out.write(
        f"# Prometheus alert rules for Sexton ({config.path}); regenerate with `sexton alerts`\n"
    )
    yaml.dump(rules(config, selector), out)
    return out.getvalue()
