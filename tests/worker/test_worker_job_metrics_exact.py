"""After N real jobs a scrape of the worker's ``/metrics`` shows exactly N: claims,
successes, the handler histogram's count, its +Inf bucket, cumulative buckets and a sum
no larger than the time the jobs took (the per-job series are counted in plain numbers,
``collab_sdk.metrics.JobCounts``, and turned into samples when scraped)."""

from __future__ import annotations

import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from collab_sdk import AsyncCollabClient, Job
from collab_sdk.metrics import HANDLER_BUCKETS
from collab_sdk.worker.context import JobContext
from collab_sdk.worker.loop import Worker
from support import eventually

N = 57


async def test_a_scrape_after_n_jobs_shows_exactly_n(service: AsyncCollabClient, start_worker: Any) -> None:
    def register(worker: Worker) -> None:
        @worker.task("exact.noop")
        async def noop(job: Job, ctx: JobContext) -> None:
            return None

    worker = await start_worker(register, metrics_port=0, metrics_host="127.0.0.1", concurrency=10)

    async def serving() -> bool:
        return worker.metrics_port not in (None, 0)

    await eventually(serving)
    started = time.perf_counter()
    await service.assign_many([{"type": "exact.noop", "executor_id": "ex"}] * N)

    async def drained() -> bool:
        return worker.stats.get("succeeded", 0) == N

    await eventually(drained)
    took = time.perf_counter() - started
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{worker.metrics_port}/metrics")).text
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value
           for family in text_string_to_metric_families(text) for s in family.samples}
    ex, ty = ("executor", "ex"), ("type", "exact.noop")
    assert got[("collab_worker_claimed_total", (ex, ty))] == N
    assert got[("collab_worker_finished_total", (ex, ("outcome", "succeeded"), ty))] == N
    assert got[("collab_worker_handler_seconds_count", (ex, ty))] == N
    buckets = [got[("collab_worker_handler_seconds_bucket", (ex, ("le", le), ty))]
               for le in [*(str(float(b)) for b in HANDLER_BUCKETS), "+Inf"]]
    assert buckets[-1] == N and buckets == sorted(buckets)
    assert 0 < got[("collab_worker_handler_seconds_sum", (ex, ty))] <= took
    for name in ("collab_worker_claimed_created", "collab_worker_handler_seconds_created"):
        assert started - 60 < got[(name, (ex, ty))] <= time.time()
