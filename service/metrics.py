"""Prometheus metrics, one registry per app instance (so tests can build several apps).

With several API processes (GAN_API_PROCESSES, service/server.py) the parent points
PROMETHEUS_MULTIPROC_DIR at a fresh directory before the workers start: every value is then
kept in a file there, and a scrape of any worker adds up all of them. Gauges say how they add
up (`multiprocess_mode`); those read from a callback are written to their file once a second.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from service.supervisor import ChildStatus

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
MULTIPROCESS_DIR_VAR = "PROMETHEUS_MULTIPROC_DIR"
GAUGE_REFRESH_S = 1.0


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_DIR_VAR) or None


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
            "gan_queue_samples", "Samples waiting for the device.", registry=r,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.samples_in_service = Gauge(
            "gan_samples_in_service",
            "Samples admitted and not yet answered (queued, on the device, being encoded).",
            registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.cost_per_sample = Gauge(
            "gan_cost_per_sample_seconds",
            "End-to-end seconds per sample that admission predicts waits with.",
            registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        self.model_loads = Counter(
            "gan_model_loads", "Generators loaded onto the device.", ["model"], registry=r
        )
        self.model_refusals = Counter(
            "gan_model_refusals",
            "Checkpoints refused (corrupt, truncated, tampered or inconsistent).",
            ["model"], registry=r,
        )  # fmt: skip
        self.models_on_device = Gauge(
            "gan_models_on_device", "Generators held on the device (by each API process).",
            registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        self._children: _ChildrenCollector | None = None
        self._stop = threading.Event()
        if multiprocess_dir():
            _forget_dead_processes()

    def track_queue(
        self,
        depth: Callable[[], float],
        in_service: Callable[[], float],
        cost: Callable[[], float],
    ) -> None:
        gauges = ((self.queue_samples, depth), (self.samples_in_service, in_service),
                  (self.cost_per_sample, cost))  # fmt: skip
        if not multiprocess_dir():
            for gauge, read in gauges:
                gauge.set_function(read)
            return

        def refresh() -> None:
            while not self._stop.wait(GAUGE_REFRESH_S):
                for gauge, read in gauges:
                    gauge.set(read())

        threading.Thread(target=refresh, name="metrics-gauges", daemon=True).start()

    def track_children(self, status: Callable[[], Iterable[ChildStatus]]) -> None:
        """The embedded default's children (service/supervisor.py), read at each scrape."""
        self._children = _ChildrenCollector(status)
        self.registry.register(self._children)

    def render(self) -> bytes:
        if not multiprocess_dir():
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        if self._children is not None:
            registry.register(self._children)
        return generate_latest(registry)

    def close(self) -> None:
        """Stop refreshing gauges; with several processes, drop this one's live gauges."""
        self._stop.set()
        if multiprocess_dir():
            multiprocess.mark_process_dead(os.getpid())


def _forget_dead_processes() -> None:
    """Drop the live gauges of API processes that died without closing (killed, then started
    again by service/api_processes.py): their counters and histograms stay, as counts that
    happened."""
    pids = {int(m.group(1)) for f in Path(multiprocess_dir()).glob("gauge_live*_*.db")
            if (m := re.search(r"_(\d+)\.db$", f.name))}  # fmt: skip
    for pid in pids - {os.getpid()}:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


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
