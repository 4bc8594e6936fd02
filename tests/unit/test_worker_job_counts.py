"""``JobCounts`` (the worker's per-job series, counted in plain numbers) exposes exactly
what ``prometheus_client``'s own ``Counter`` and ``Histogram`` expose for the same jobs:
the same text, ``_created`` series included (their timestamps aside)."""

from __future__ import annotations

import re
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics

from collab_sdk.metrics import HANDLER_BUCKETS, JobCounts, WorkerMetrics

#: (type, outcome, handler seconds): bounds exactly, between them, past the last, none.
JOBS = [("a", "succeeded", 0.0), ("a", "succeeded", 0.01), ("a", "retried", 0.0100001),
        ("b", "failed", 600.0), ("b", "failed", 601.5), ("a", "succeeded", 2.5),
        ("b", "lost", None), ("c", "aborted", 0.3), ("a", "succeeded", 0.004)]


def _library(executor: str) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    labels = ["executor", "type"]
    claimed = Counter("collab_worker_claimed", "Jobs claimed", labels, registry=registry)
    finished = Counter("collab_worker_finished", "Attempts ended, by outcome", [*labels, "outcome"],
                       registry=registry)
    handler = Histogram("collab_worker_handler_seconds", "Handler duration", labels,
                        buckets=HANDLER_BUCKETS, registry=registry)
    for type_, outcome, seconds in JOBS:
        claimed.labels(executor, type_).inc()
        finished.labels(executor, type_, outcome).inc()
        if seconds is not None:
            handler.labels(executor, type_).observe(seconds)
    return registry


def _ours(executor: str) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    counts = JobCounts(executor)
    registry.register(counts)
    for type_, outcome, seconds in JOBS:
        counts.job_claimed(type_)
        counts.job_finished(type_, outcome, seconds)
    return registry


def _text(registry: CollectorRegistry, encode: Any = generate_latest) -> str:
    text = encode(registry).decode()
    return re.sub(r"(_created\{[^}]*\}) \S+", r"\1 T", text)


def test_the_exposition_is_the_librarys_for_the_same_jobs() -> None:
    ours, library = _text(_ours("ex")), _text(_library("ex"))
    assert ours == library
    assert 'collab_worker_handler_seconds_bucket{executor="ex",le="+Inf",type="b"} 2.0' in ours
    assert 'collab_worker_claimed_total{executor="ex",type="a"} 5.0' in ours
    assert _text(_ours("ex"), openmetrics) == _text(_library("ex"), openmetrics)  # Accept: OpenMetrics


def test_nothing_recorded_exposes_the_families_without_series() -> None:
    empty = CollectorRegistry(auto_describe=True)
    empty.register(JobCounts("ex"))
    assert _text(empty) == _text(_empty_library())


def _empty_library() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    Counter("collab_worker_claimed", "Jobs claimed", ["executor", "type"], registry=registry)
    Counter("collab_worker_finished", "Attempts ended, by outcome", ["executor", "type", "outcome"],
            registry=registry)
    Histogram("collab_worker_handler_seconds", "Handler duration", ["executor", "type"],
              buckets=HANDLER_BUCKETS, registry=registry)
    return registry


def test_worker_metrics_records_through_job_counts() -> None:
    metrics = WorkerMetrics("ex")
    for _ in range(7):
        metrics.job_claimed("t")
        metrics.job_finished("t", "succeeded", 0.02)
    text = generate_latest(metrics.registry).decode()
    assert 'collab_worker_claimed_total{executor="ex",type="t"} 7.0' in text
    assert 'collab_worker_handler_seconds_bucket{executor="ex",le="0.01",type="t"} 0.0' in text
    assert 'collab_worker_handler_seconds_bucket{executor="ex",le="0.025",type="t"} 7.0' in text
    assert 'collab_worker_handler_seconds_count{executor="ex",type="t"} 7.0' in text
