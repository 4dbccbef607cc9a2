"""Prometheus metrics, built from the database on every scrape.

Every fact lives in the database, so any process (``sexton api`` on another host too)
reports the same numbers, and nothing is lost when a process restarts. Counters come from
running totals updated as each run finishes, so pruning old history never lowers them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, func, select

from .catalog import CORRUPT, Catalog, CopiesPolicy
from .catalog.repair import EVENTS as REPAIR_EVENTS
from .db import reading
from .db.catalog_tables import repairs
from .db.tables import runs, task_state, workers
from .engine.monitor import STATUSES, Monitor, TaskStatus
from .engine.service import Instance
from .engine.states import FINISHED, QUEUED
from .stores import Store
from .transfer.records import STATES as TRANSFER_STATES
from .transfer.records import Totals, TransferBook

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
        "sexton_transfers",
        "sexton_transfer_bytes_sent_total",
        "sexton_transfer_bytes_received_total",
        "sexton_transfer_oldest_in_flight_seconds",
        "sexton_repairs_total",
        "sexton_store_under_replicated_files",
        "sexton_store_lost_files",
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
            yield from _repairs(connection)
        corrupt = Catalog(self.instance.engine, self.instance.clock).copies_by_store(CORRUPT)
        yield from self._stores(corrupt)
        yield from self._replication()
        yield from _transfers(TransferBook(self.instance.engine, self.instance.clock).totals(), now)

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

    def _replication(self) -> Iterator[Metric]:
        """Files below their copies rule, and lost files, on each store holding a copy."""
        settings = self.instance.config.settings
        counts = Catalog(self.instance.engine, self.instance.clock).replication_counts(
            CopiesPolicy.of(settings)
        )
        under = GaugeMetricFamily(
            "sexton_store_under_replicated_files",
            "Files with a copy here that are below their copies rule.",
            labels=STORE,
        )
        lost = GaugeMetricFamily(
            "sexton_store_lost_files",
            "Files with a copy here of which no copy anywhere matches the checksum.",
            labels=STORE,
        )
        for name in sorted(set(settings.stores) | set(counts.by_store)):
            below, gone = counts.by_store.get(name, (0, 0))
            under.add_metric([name], below)
            lost.add_metric([name], gone)
        yield from (under, lost)


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
    """From the running totals kept as runs finish (not from the pruned run history)."""
    by_outcome = CounterMetricFamily(
        "sexton_task_runs", "Finished runs by outcome.", labels=[*TASK, "outcome"]
    )
    items = CounterMetricFamily("sexton_task_items_processed", "Items done by runs.", labels=TASK)
    nbytes = CounterMetricFamily("sexton_task_bytes_processed", "Bytes done by runs.", labels=TASK)
    outcomes = sorted(FINISHED)
    totals = connection.execute(
        select(
            task_state.c.task,
            task_state.c.items_done,
            task_state.c.bytes_done,
            *(task_state.c[f"runs_{outcome}"] for outcome in outcomes),
        ).where(task_state.c.task.in_(list(types)))
    ).all()
    for task, done_items, done_bytes, *counts in totals:
        labels = [task, types[task]]
        for outcome, count in zip(outcomes, counts, strict=True):
            by_outcome.add_metric([*labels, outcome], count)
        items.add_metric(labels, done_items)
        nbytes.add_metric(labels, done_bytes)
    yield from (by_outcome, items, nbytes)


def _transfers(totals: Totals, now: datetime) -> Iterator[Metric]:
    """Inter-site transfers: how many in each state, bytes moved, how long the oldest waits."""
    by_state = GaugeMetricFamily(
        "sexton_transfers", "Transfers by direction and state.", labels=["direction", "state"]
    )
    for direction in ("outgoing", "incoming"):
        for state in TRANSFER_STATES:
            by_state.add_metric([direction, state], totals.by_state.get((direction, state), 0))
    sent = CounterMetricFamily(
        "sexton_transfer_bytes_sent", "Bytes that reached another site.", value=totals.bytes_sent
    )
    received = CounterMetricFamily(
        "sexton_transfer_bytes_received",
        "Bytes received from other sites.",
        value=totals.bytes_received,
    )
    oldest = totals.oldest_in_flight
    waiting = GaugeMetricFamily(
        "sexton_transfer_oldest_in_flight_seconds",
        "Age of the oldest unfinished transfer (0 when none).",
        value=(now - oldest).total_seconds() if oldest is not None else 0,
    )
    yield from (by_state, sent, received, waiting)


def _repairs(connection: Connection) -> Iterator[Metric]:
    """Repair history by damaged copy's store and event (`detected`, `repaired`, `lost`)."""
    counts = CounterMetricFamily(
        "sexton_repairs",
        "Damaged copies taken up, repaired or found lost.",
        labels=[*STORE, "event"],
    )
    query = select(repairs.c.store, repairs.c.event, func.count()).group_by(
        repairs.c.store, repairs.c.event
    )
    found = {(store, event): n for store, event, n in connection.execute(query)}
    for store in sorted({store for store, _event in found}):
        for event in REPAIR_EVENTS:
            counts.add_metric([store, event], found.get((store, event), 0))
    yield counts


def render(instance: Instance, stores: Mapping[str, Store]) -> bytes:
    """The text exposition format of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SextonCollector(instance, stores))
    return generate_latest(registry)
