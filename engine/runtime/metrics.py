"""Prometheus metrics of a running worker (`GET /metrics`), read from its counters when
scraped: nothing is counted twice, and the figures are the run summary's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.runtime.stats import Lateness, RunStats


class Observed(Protocol):
    """What the metrics read of a worker."""

    stats: RunStats
    tasks: dict[Any, Any]

    def lateness(self) -> list[Lateness]: ...


class WorkerCollector(Collector):
    """A prometheus_client collector over one worker."""

    def __init__(self, worker: Observed) -> None:
        self.worker = worker

    def collect(self) -> Iterator[Metric]:
        stats = self.worker.stats
        yield CounterMetricFamily("shoal_records_in", "Input records read",
                                  value=stats.records_in)
        out = CounterMetricFamily("shoal_records_out", "Records written per output topic",
                                  labels=["topic"])
        for topic, count in sorted(stats.out.items()):
            out.add_metric([topic], count)
        yield out
        yield CounterMetricFamily("shoal_dead_letters", "Records dead-lettered",
                                  value=stats.dead_lettered)
        late = CounterMetricFamily("shoal_late_records",
                                   "Records late for a window or join, per operator",
                                   labels=["operator"])
        for found in self.worker.lateness():
            late.add_metric([found.operator], found.late)
        yield late
        yield CounterMetricFamily("shoal_commits", "Commits", value=stats.commits)
        yield GaugeMetricFamily("shoal_backlog_records",
                                "Input records not yet committed, at the last count",
                                value=stats.backlog)
        yield GaugeMetricFamily("shoal_tasks", "Tasks this worker runs",
                                value=len(self.worker.tasks))


def metrics_text(worker: Observed) -> Callable[[], bytes]:
    """A function giving the worker's metrics in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(worker))
    return lambda: generate_latest(registry)
