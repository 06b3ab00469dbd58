"""Prometheus metrics, one registry per app instance (so tests can build several apps)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from service.supervisor import ChildStatus

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "gan_http_requests", "HTTP requests by route template, method and status.",
            ["route", "method", "status"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "gan_http_request_duration_seconds", "Time to answer, by route template.",
            ["route", "method"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.samples = Counter(
            "gan_samples_generated", "Samples generated, by model version.", ["model"], registry=r
        )
        self.samples_dropped = Counter(
            "gan_samples_dropped",
            "Queued samples dropped before they ran (client gone or request timed out).",
            registry=r,
        )
        self.rejected = Counter(
            "gan_requests_rejected", "Sample requests refused or abandoned, by reason.",
            ["reason"], registry=r,
        )  # fmt: skip
        self.forward_passes = Counter(
            "gan_device_forward_passes", "Generator forward passes on the device.", registry=r
        )
        self.batch_samples = Histogram(
            "gan_device_batch_samples", "Samples per device batch (before padding).",
            buckets=_BATCH_BUCKETS, registry=r,
        )  # fmt: skip
        self.forward_seconds = Histogram(
            "gan_device_forward_seconds", "Time of one device batch (forward and copy back).",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.encode_seconds = Histogram(
            "gan_encode_seconds", "Time to encode one response, by format.",
            ["format"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue_samples = Gauge(
            "gan_queue_samples", "Samples waiting for the device.", registry=r
        )
        self.samples_in_service = Gauge(
            "gan_samples_in_service",
            "Samples admitted and not yet answered (queued, on the device, being encoded).",
            registry=r,
        )
        self.cost_per_sample = Gauge(
            "gan_cost_per_sample_seconds",
            "End-to-end seconds per sample that admission predicts waits with.",
            registry=r,
        )
        self.model_loads = Counter(
            "gan_model_loads", "Generators loaded onto the device.", ["model"], registry=r
        )
        self.model_refusals = Counter(
            "gan_model_refusals",
            "Checkpoints refused (corrupt, truncated, tampered or inconsistent).",
            ["model"], registry=r,
        )  # fmt: skip
        self.models_on_device = Gauge(
            "gan_models_on_device", "Generators held on the device.", registry=r
        )

    def track_queue(
        self,
        depth: Callable[[], float],
        in_service: Callable[[], float],
        cost: Callable[[], float],
    ) -> None:
        self.queue_samples.set_function(depth)
        self.samples_in_service.set_function(in_service)
        self.cost_per_sample.set_function(cost)

    def track_children(self, status: Callable[[], Iterable[ChildStatus]]) -> None:
        """The embedded default's children (service/supervisor.py), read at each scrape."""
        self.registry.register(_ChildrenCollector(status))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ChildrenCollector(Collector):
    """gan_embedded_child_restarts_total and gan_embedded_child_up, by child. The supervisor
    keeps the counts (restarts may happen before the app exists); a scrape reads them."""

    def __init__(self, status: Callable[[], Iterable[ChildStatus]]) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        restarts = CounterMetricFamily(
            "gan_embedded_child_restarts",
            "Embedded child processes started again after dying, by child.",
            labels=["child"],
        )
        up = GaugeMetricFamily(
            "gan_embedded_child_up", "1 while the embedded child process runs.", labels=["child"]
        )
        for child in self._status():
            restarts.add_metric([child.name], child.restarts)
            up.add_metric([child.name], 1 if child.up else 0)
        yield restarts
        yield up
