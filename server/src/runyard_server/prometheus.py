"""Prometheus metrics for ``GET /metrics``.

Gauges and counters shared by every replica (queues, tasks by status, workers, lease
expiries, log bytes) are read from Redis at scrape time (``store.stats``), so any
replica reports the same values. The claim latency histogram is this process's own:
Prometheus sums the replicas' buckets.
"""

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from runyard_server.store.stats import StoreStats

CLAIM_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
"""Seconds; a claim that waits on an empty queue can take up to ``wait_s`` (30 s at most)."""


class _Snapshot(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


class ServerMetrics:
    """What one server process measures itself, and the rendering of a scrape."""

    def __init__(self) -> None:
        self._registry = CollectorRegistry(auto_describe=True)
        self.claim_latency = Histogram(
            "runyard_claim_latency_seconds",
            "Time from a claim request to the task handed out (claims that got a task).",
            buckets=CLAIM_BUCKETS,
            registry=self._registry,
        )

    def render(self, stats: StoreStats) -> bytes:
        """The Prometheus text page: this process's metrics, then the store's."""
        return generate_latest(self._registry) + generate_latest(_Snapshot(_families(stats)))


def _families(stats: StoreStats) -> list[Metric]:
    depth = GaugeMetricFamily(
        "runyard_queue_depth", "Tasks waiting in the queue.", labels=["queue"]
    )
    wait = GaugeMetricFamily(
        "runyard_queue_oldest_wait_seconds",
        "How long the longest-waiting task of the queue has waited (0 when empty).",
        labels=["queue"],
    )
    running = GaugeMetricFamily(
        "runyard_queue_running",
        "Tasks of the queue running now (what its max_running is checked against).",
        labels=["queue"],
    )
    for name, n in stats.queue_depth.items():
        depth.add_metric([name], n)
        wait.add_metric([name], stats.queue_oldest_wait_s[name])
        running.add_metric([name], stats.queue_running[name])
    tasks = GaugeMetricFamily("runyard_tasks", "Task records by status.", labels=["status"])
    for status, n in stats.tasks_by_status.items():
        tasks.add_metric([status], n)
    workers = GaugeMetricFamily(
        "runyard_workers", "Registered workers, by whether they heartbeat lately.", labels=["state"]
    )
    workers.add_metric(["alive"], stats.workers_alive)
    workers.add_metric(["silent"], stats.workers_registered - stats.workers_alive)
    expiries = CounterMetricFamily(
        "runyard_lease_expiries",
        "Leases the reaper found expired, by what became of the task.",
        labels=["outcome"],
    )
    for outcome in ("requeued", "failed", "aborted"):
        expiries.add_metric([outcome], stats.counters.get(f"lease_expired_{outcome}", 0))
    log_bytes = CounterMetricFamily(
        "runyard_log_bytes", "Bytes of console output stored (as log line JSON)."
    )
    log_bytes.add_metric([], stats.counters.get("log_bytes", 0))
    preempted = CounterMetricFamily(
        "runyard_preemptions", "Tasks a higher-priority task preempted (requeued, not failed)."
    )
    preempted.add_metric([], stats.counters.get("preempted", 0))
    return [depth, wait, running, tasks, workers, expiries, log_bytes, preempted]
