"""Prometheus metrics of a running worker (`GET /metrics`), read from its counters when
scraped: nothing is counted twice, and the figures are the run summary's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from engine.physical import PhysicalPlan
from engine.runtime.stats import COMMIT_BUCKETS, LATENCY_BUCKETS, Lateness, RunStats
from engine.runtime.taskenv import StoreBackends

Lag = list[tuple[str, int, int]]  # topic, partition, records not yet committed


class Observed(Protocol):
    """What the metrics read of a worker."""

    stats: RunStats
    tasks: dict[Any, Any]
    plan: PhysicalPlan
    backends: StoreBackends | None

    def lateness(self) -> list[Lateness]: ...


class WorkerCollector(Collector):
    """A prometheus_client collector over one worker."""

    def __init__(self, worker: Observed) -> None:
        self.worker = worker
        self.lag: Lag = []  # set just before each scrape (it needs the log)

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
        stages = CounterMetricFamily("shoal_dead_letters_by_stage",
                                     "Records dead-lettered, per stage", labels=["stage"])
        for stage, count in sorted(stats.dead_by_stage.items()):
            stages.add_metric([stage], count)
        yield stages
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
        yield CounterMetricFamily("shoal_rebalances", "Partition assignment changes",
                                  value=stats.rebalances)
        yield _histogram("shoal_commit_seconds", "Duration of commits", COMMIT_BUCKETS,
                         stats.commit_buckets, stats.commit_seconds)
        yield _histogram("shoal_e2e_latency_seconds",
                         "Commit time minus the timestamp of an output record (the newest of "
                         "each output batch per topic and partition)", LATENCY_BUCKETS,
                         stats.latency_buckets, stats.latency_seconds)
        yield from self._stores()
        lag = GaugeMetricFamily("shoal_lag_records", "Input records not yet committed",
                                labels=["topic", "partition"])
        for topic, partition, count in self.lag:
            lag.add_metric([topic, str(partition)], count)
        yield lag

    def _stores(self) -> Iterator[Metric]:
        keys = GaugeMetricFamily("shoal_store_keys_estimate", "Keys per store (RocksDB's "
                                 "estimate: overwrites not yet compacted count each)",
                                 labels=["store"])
        size = GaugeMetricFamily("shoal_store_bytes", "Bytes per store (memtables and live "
                                 "data)", labels=["store"])
        backends, plan = self.worker.backends, self.worker.plan
        for store in plan.stores:
            if backends is None:
                break
            backend = backends(f"{plan.pipeline}.{store}")
            keys.add_metric([store], backend.estimated_keys())
            size.add_metric([store], backend.size_bytes())
        yield keys
        yield size


def _histogram(name: str, text: str, bounds: tuple[float, ...], counts: list[int],
               total: float) -> Metric:
    cumulative, buckets = 0, []
    for bound, count in zip(bounds, counts, strict=True):
        cumulative += count
        buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
    return HistogramMetricFamily(name, text, buckets=buckets, sum_value=total)


def metrics_text(worker: Observed) -> Callable[[Lag], bytes]:
    """A function giving the worker's metrics in Prometheus' text format, with the lag of
    each input partition it is given."""
    registry = CollectorRegistry(auto_describe=False)
    collector = WorkerCollector(worker)
    registry.register(collector)

    def render(lag: Lag) -> bytes:
        collector.lag = lag
        return generate_latest(registry)

    return render
