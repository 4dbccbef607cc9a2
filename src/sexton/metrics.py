"""Prometheus metrics, built from the database on every scrape.

Every fact lives in the database, so any process (``sexton api`` on another host too)
reports the same numbers, and nothing is lost when a process restarts. Counters are sums over
the kept history: pruning old runs lowers them, which Prometheus treats as a counter reset.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, func, select

from .catalog import CORRUPT, Catalog
from .db import reading
from .db.catalog_tables import instances
from .db.tables import runs, workers
from .engine.monitor import STATUSES, Monitor, TaskStatus
from .engine.service import Instance
from .engine.states import FINISHED, QUEUED
from .stores import Store

TASK = ["task", "type"]
STORE = ["store"]
# A worker that has not beaten for this many leases is counted dead.
WORKER_SILENT_LEASES = 2

# Every metric Sexton exports, as scraped (counters with their ``_total``): the alert rules
# and the Grafana dashboard may use only these.
METRIC_NAMES = frozenset(
    {
        "sexton_task_last_success_timestamp_seconds",
        "sexton_task_last_run_duration_seconds",
        "sexton_task_runs_total",
        "sexton_task_status",
        "sexton_task_overdue_seconds",
        "sexton_task_consecutive_failures",
        "sexton_task_items_processed_total",
        "sexton_task_bytes_processed_total",
        "sexton_store_used_bytes",
        "sexton_store_free_bytes",
        "sexton_store_files",
        "sexton_store_corrupt_instances",
        "sexton_store_enabled",
        "sexton_workers_alive",
        "sexton_queue_depth",
    }
)


class SextonCollector(Collector):
    """Collects one scrape's worth of metrics for one instance."""

    def __init__(self, instance: Instance, stores: Mapping[str, Store]) -> None:
        self.instance = instance
        self.stores = stores

    def collect(self) -> Iterator[Metric]:
        now = self.instance.clock.now()
        statuses = Monitor(self.instance.config, self.instance.engine).statuses(now)
        yield from _task_gauges(statuses)
        with reading(self.instance.engine) as connection:
            yield from _task_counters(connection, {s.task: s.type for s in statuses})
            yield from self._service(connection, now)
            corrupt: dict[str, int] = dict(
                connection.execute(
                    select(instances.c.store, func.count())
                    .where(instances.c.state == CORRUPT)
                    .group_by(instances.c.store)
                ).all()
            )
        yield from self._stores(corrupt)

    def _service(self, connection: Connection, now: datetime) -> Iterator[Metric]:
        silent = self.instance.config.settings.worker.lease * WORKER_SILENT_LEASES
        alive = connection.execute(
            select(func.count())
            .select_from(workers)
            .where(workers.c.stopped_at.is_(None), workers.c.heartbeat_at >= now - silent)
        ).scalar_one()
        yield GaugeMetricFamily(
            "sexton_workers_alive", "Workers that heartbeated within two leases.", value=alive
        )
        depth = GaugeMetricFamily(
            "sexton_queue_depth", "Queued runs that are due, by executor.", labels=["executor"]
        )
        due: dict[str, int] = dict(
            connection.execute(
                select(runs.c.executor, func.count())
                .where(runs.c.state == QUEUED, runs.c.not_before <= now)
                .group_by(runs.c.executor)
            ).all()
        )
        for executor in ("local", "external"):
            depth.add_metric([executor], due.get(executor, 0))
        yield depth

    def _stores(self, corrupt: Mapping[str, int]) -> Iterator[Metric]:
        stats = Catalog(self.instance.engine, self.instance.clock).stats(self.stores)
        used = GaugeMetricFamily(
            "sexton_store_used_bytes", "Bytes of present copies.", labels=STORE
        )
        free = GaugeMetricFamily(
            "sexton_store_free_bytes", "Free bytes left for Sexton.", labels=STORE
        )
        count = GaugeMetricFamily(
            "sexton_store_files", "Present copies on the store.", labels=STORE
        )
        bad = GaugeMetricFamily(
            "sexton_store_corrupt_instances", "Copies whose content is damaged.", labels=STORE
        )
        enabled = GaugeMetricFamily(
            "sexton_store_enabled", "1 if the store is in use.", labels=STORE
        )
        for name, store in stats.stores.items():
            used.add_metric([name], store.bytes)
            if store.free is not None:
                free.add_metric([name], store.free)
            count.add_metric([name], store.files)
            bad.add_metric([name], corrupt.get(name, 0))
            enabled.add_metric([name], int(store.enabled))
        yield from (used, free, count, bad, enabled)


def _task_gauges(statuses: list[TaskStatus]) -> Iterator[Metric]:
    success = GaugeMetricFamily(
        "sexton_task_last_success_timestamp_seconds", "When the task last succeeded.", labels=TASK
    )
    duration = GaugeMetricFamily(
        "sexton_task_last_run_duration_seconds", "How long the last finished run took.", labels=TASK
    )
    status = GaugeMetricFamily(
        "sexton_task_status", "1 for the task's current status.", labels=[*TASK, "status"]
    )
    overdue = GaugeMetricFamily(
        "sexton_task_overdue_seconds", "Seconds past the task's due time.", labels=TASK
    )
    failures = GaugeMetricFamily(
        "sexton_task_consecutive_failures", "Failed runs since the last success.", labels=TASK
    )
    for s in statuses:
        labels = [s.task, s.type]
        if s.last_success is not None:
            success.add_metric(labels, s.last_success.timestamp())
        if s.last_duration is not None:
            duration.add_metric(labels, s.last_duration)
        for name in STATUSES:
            status.add_metric([*labels, name], int(name == s.status))
        overdue.add_metric(labels, s.overdue_seconds)
        failures.add_metric(labels, s.failures)
    yield from (success, duration, status, overdue, failures)


def _task_counters(connection: Connection, types: Mapping[str, str]) -> Iterator[Metric]:
    by_outcome = CounterMetricFamily(
        "sexton_task_runs", "Finished runs by outcome.", labels=[*TASK, "outcome"]
    )
    items = CounterMetricFamily("sexton_task_items_processed", "Items done by runs.", labels=TASK)
    nbytes = CounterMetricFamily("sexton_task_bytes_processed", "Bytes done by runs.", labels=TASK)
    totals = connection.execute(
        select(
            runs.c.task,
            runs.c.state,
            func.count(),
            func.sum(runs.c["items"]),
            func.sum(runs.c.bytes),
        )
        .where(runs.c.state.in_(FINISHED), runs.c.task.in_(list(types)))
        .group_by(runs.c.task, runs.c.state)
    ).all()
    counts: dict[tuple[str, str], int] = {}
    work: dict[str, list[int]] = {task: [0, 0] for task in types}
    for task, state, n, done_items, done_bytes in totals:
        counts[task, state] = n
        work[task][0] += int(done_items or 0)
        work[task][1] += int(done_bytes or 0)
    for task, task_type in types.items():
        for outcome in sorted(FINISHED):
            by_outcome.add_metric([task, task_type, outcome], counts.get((task, outcome), 0))
        items.add_metric([task, task_type], work[task][0])
        nbytes.add_metric([task, task_type], work[task][1])
    yield from (by_outcome, items, nbytes)


def render(instance: Instance, stores: Mapping[str, Store]) -> bytes:
    """The text exposition format of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SextonCollector(instance, stores))
    return generate_latest(registry)
