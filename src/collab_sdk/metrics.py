"""Prometheus metrics (``prometheus-client``): the engine's counts and a worker's own.

``CountsCollector`` turns the engine's counts (``EngineCounts``) into gauges, one series
per executor: ``collab_jobs{executor,type,state}``, ``collab_dead_letters{executor}`` and
``collab_active_workers{executor}``. ``collab serve`` answers them at ``/metrics`` for
every executor (``metrics_by_executor_v1``, ``collab_sdk.http.observability``); a worker
exports them for its own executor (from ``metrics_overview_v1``).

``WorkerMetrics`` is one worker's registry (its own, so that several workers in one
process never collide), served by ``serve(port)`` on a thread of its own
(``Worker(metrics_port=...)``, ``collab worker --metrics-port``):

========================================== ================================================
``collab_worker_claimed_total``            jobs claimed, by executor and type
``collab_worker_finished_total``           attempts ended, by executor, type and outcome
                                           (succeeded, retried, failed, lost, aborted)
``collab_worker_handler_seconds``          handler duration histogram, by executor and type
``collab_worker_lease_extensions_total``   leases extended
``collab_worker_leases_lost_total``        leases found gone while the handler ran
``collab_worker_results_dropped_total``    finished results the engine refused: the lease
                                           was lost before they could be stored (e.g. held
                                           through an outage longer than the lease)
``collab_worker_wakeups_total``            claim loop wake-ups, by source (``notify``: a
                                           LISTEN/Realtime wake-up; ``poll``: the interval)
``collab_worker_running``                  attempts in flight
========================================== ================================================

The three per-job series (claimed, finished, handler seconds) are counted in plain ints
and floats by ``JobCounts`` and turned into samples only when scraped: a
``prometheus_client`` child takes a lock per ``inc()`` and walks the buckets in Python per
``observe()``, a few microseconds a job that a drain of thousands of jobs a second pays in
full. Names, labels, values and ``_created`` series are those the library would expose.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString as _untyped_go_string

from collab_sdk.models import EngineCounts, MetricsOverview

__all__ = ["CountsCollector", "JobCounts", "WorkerMetrics", "HANDLER_BUCKETS"]

#: The library's text for a bucket bound (``le``): "0.01", "1.0", "+Inf" (it has no annotations).
_go_string = cast(Callable[[float], str], _untyped_go_string)

#: Handler duration buckets, in seconds (10 ms to 10 min).
HANDLER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class CountsCollector:
    """Gauges from the engine's latest counts (``counts()``; None: not fetched yet)."""

    def __init__(self, counts: Callable[[], EngineCounts | None]) -> None:
        self.counts = counts

    def collect(self) -> Iterable[Metric]:
        """``collab_jobs``, ``collab_dead_letters`` and ``collab_active_workers``: a series
        per executor (an executor named anywhere in the counts gets its dead letters and
        workers, zero included)."""
        jobs = GaugeMetricFamily("collab_jobs", "Jobs by executor, type and state (the engine's count)",
                                 labels=["executor", "type", "state"])
        dead = GaugeMetricFamily("collab_dead_letters", "Dead letters not yet retried (the engine's count)",
                                 labels=["executor"])
        workers = GaugeMetricFamily("collab_active_workers", "Workers seen recently",
                                    labels=["executor"])
        counts = self.counts()
        if counts is not None:
            for count in counts.jobs:
                jobs.add_metric([count.executor_id, count.type, count.state], count.count)
            for executor in counts.executors():
                dead.add_metric([executor], counts.dead_letters.get(executor, 0))
                workers.add_metric([executor], counts.active_workers.get(executor, 0))
        return [jobs, dead, workers]


class JobCounts:
    """``collab_worker_claimed``, ``collab_worker_finished`` and
    ``collab_worker_handler_seconds`` of one executor, counted in plain numbers by the
    worker's event loop and exposed as ``prometheus_client`` would expose a ``Counter``
    and a ``Histogram`` (``HANDLER_BUCKETS``) with the same names and labels.

    Only one thread records (the worker's loop); a scrape (the metrics server's thread)
    reads copies, so it never sees a dict change size, and at worst sees an observation's
    bucket before its sum, as with the library's own histogram."""

    def __init__(self, executor_id: str) -> None:
        self.executor_id = executor_id
        self._bounds = (*map(float, HANDLER_BUCKETS), float("inf"))
        self._le = tuple(_go_string(bound) for bound in self._bounds)
        self._created: dict[tuple[str, ...], float] = {}  # by (metric, *labels): first seen
        self.claimed: dict[str, int] = {}  # by type
        self.finished: dict[tuple[str, str], int] = {}  # by (type, outcome)
        #: By type: a count per bucket (not cumulative, +Inf last), then the sum.
        self.handler: dict[str, list[float]] = {}

    def job_claimed(self, type_: str) -> None:
        """Count a claimed job."""
        claimed = self.claimed
        if type_ not in claimed:
            self._created["claimed", type_] = time.time()
            claimed[type_] = 0
        claimed[type_] += 1

    def job_finished(self, type_: str, outcome: str, handler_seconds: float | None) -> None:
        """Count an ended attempt and observe its handler's duration (None: it never ran)."""
        finished, key = self.finished, (type_, outcome)
        if key not in finished:
            self._created["finished", *key] = time.time()
            finished[key] = 0
        finished[key] += 1
        if handler_seconds is not None:
            counts = self.handler.get(type_)
            if counts is None:
                self._created["handler", type_] = time.time()
                counts = self.handler[type_] = [0.0] * (len(self._bounds) + 1)
            counts[bisect_left(self._bounds, handler_seconds)] += 1  # the first bound >= it
            counts[-1] += handler_seconds

    def collect(self) -> Iterable[Metric]:
        """The three families, their series in the order they were first recorded."""
        ex, created = self.executor_id, self._created.copy()
        claimed = Metric("collab_worker_claimed", "Jobs claimed", "counter")
        for type_, value in self.claimed.copy().items():
            _counter(claimed, {"executor": ex, "type": type_}, value, created.get(("claimed", type_)))
        finished = Metric("collab_worker_finished", "Attempts ended, by outcome", "counter")
        for (type_, outcome), value in self.finished.copy().items():
            _counter(finished, {"executor": ex, "type": type_, "outcome": outcome}, value,
                     created.get(("finished", type_, outcome)))
        handler = Metric("collab_worker_handler_seconds", "Handler duration", "histogram")
        for type_, counts in self.handler.copy().items():
            counts = list(counts)
            labels = {"executor": ex, "type": type_}
            total = 0.0
            for le, count in zip(self._le, counts):
                total += count
                handler.samples.append(Sample(handler.name + "_bucket", {**labels, "le": le}, total))
            handler.samples.append(Sample(handler.name + "_count", labels, total))
            handler.samples.append(Sample(handler.name + "_sum", labels, counts[-1]))
            _created(handler, labels, created.get(("handler", type_)))
        return [claimed, finished, handler]


def _counter(family: Metric, labels: dict[str, str], value: float, created: float | None) -> None:
    family.samples.append(Sample(family.name + "_total", labels, float(value)))
    _created(family, labels, created)


#: The ``_created`` series, unless turned off the way ``prometheus_client`` reads it.
_USE_CREATED = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in ("true", "1", "t")


def _created(family: Metric, labels: dict[str, str], created: float | None) -> None:
    if created is not None and _USE_CREATED:
        family.samples.append(Sample(family.name + "_created", labels, created))


class WorkerMetrics:
    """One worker's counters, histograms and gauges (see the module doc)."""

    def __init__(self, executor_id: str) -> None:
        self.executor_id = executor_id
        self.registry = CollectorRegistry(auto_describe=True)
        #: The executor's overview, refreshed by the worker (``collab_jobs`` …).
        self.overview: MetricsOverview | None = None
        self.registry.register(CountsCollector(self._counts))
        #: The per-job series (claimed, finished, handler seconds).
        self.jobs = JobCounts(executor_id)
        self.registry.register(self.jobs)
        #: Record a claimed job, an ended attempt (``JobCounts``).
        self.job_claimed = self.jobs.job_claimed
        self.job_finished = self.jobs.job_finished
        self.lease_extensions = Counter("collab_worker_lease_extensions", "Leases extended",
                                        ["executor"], registry=self.registry)
        self.leases_lost = Counter("collab_worker_leases_lost", "Leases found gone while a handler ran",
                                   ["executor"], registry=self.registry)
        self.results_dropped = Counter("collab_worker_results_dropped",
                                       "Finished results refused because the lease was lost first",
                                       ["executor"], registry=self.registry)
        self.wakeups = Counter("collab_worker_wakeups", "Claim loop wake-ups, by source",
                               ["executor", "source"], registry=self.registry)
        self.running = Gauge("collab_worker_running", "Attempts in flight", ["executor"],
                             registry=self.registry)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        # Labelled children by label values: ``labels()`` takes a lock and builds a key on
        # every call, and wake-ups come once per claim batch.
        self._children: dict[tuple[Any, ...], Any] = {}
        self._running_now = self.running.labels(executor_id)

    def _counts(self) -> EngineCounts | None:
        overview = self.overview
        return None if overview is None else EngineCounts.from_overview(self.executor_id, overview)

    def _child(self, metric: Any, *values: str) -> Any:
        key = (metric, *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(self.executor_id, *values)
        return child

    def lease_extended(self) -> None:
        """Count a lease extension."""
        self._child(self.lease_extensions).inc()

    def lease_lost(self) -> None:
        """Count a lease found gone."""
        self._child(self.leases_lost).inc()

    def result_dropped(self) -> None:
        """Count a finished result the engine refused (its lease was lost first)."""
        self._child(self.results_dropped).inc()

    def woken(self, source: str) -> None:
        """Count a wake-up of the claim loop (``notify`` or ``poll``)."""
        self._child(self.wakeups, source).inc()

    def count_running(self, running: Callable[[], int]) -> None:
        """``collab_worker_running`` is ``running()`` (the attempts in flight), read when
        scraped rather than set on every claim and end."""
        self._running_now.set_function(running)

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        """Serve ``/metrics`` on ``host:port`` (0: any free port) from a daemon thread; the port."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        self._server, self._thread = server, thread
        return int(server.server_port)

    def close(self) -> None:
        """Stop serving, if serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
