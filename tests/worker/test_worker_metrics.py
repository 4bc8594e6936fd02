"""A worker's Prometheus endpoint (``Worker(metrics_port=0)``): it parses with
``prometheus_client``'s parser and its counters, histograms and the engine's counts move
with real jobs."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from collab_sdk import AsyncCollabClient, Job
from collab_sdk.worker.context import JobContext
from collab_sdk.worker.loop import Worker
from support import eventually


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def scrape(worker: Worker) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"http://127.0.0.1:{worker.metrics_port}/metrics")
    assert answer.status_code == 200
    return samples(answer.text)


async def test_worker_metrics_move_with_real_jobs(service: AsyncCollabClient, start_worker: Any) -> None:
    release = asyncio.Event()

    def register(worker: Worker) -> None:
        @worker.task("m.ok")
        async def ok(job: Job, ctx: JobContext) -> None:
            await asyncio.sleep(0.05)

        @worker.task("m.boom")
        async def boom(job: Job, ctx: JobContext) -> None:
            raise RuntimeError("boom")

        @worker.task("m.hold")
        async def hold(job: Job, ctx: JobContext) -> None:
            await release.wait()

    worker = await start_worker(register, metrics_port=0, metrics_host="127.0.0.1", lease_seconds=3)
    await eventually(lambda: _true(worker.metrics_port not in (None, 0)))
    for _ in range(3):
        await service.assign("m.ok", executor_id="ex")
    await service.assign("m.boom", executor_id="ex", max_attempts=1)
    await service.assign("m.hold", executor_id="ex")
    await eventually(lambda: _true(worker.stats.get("succeeded", 0) == 3 and worker.stats.get("failed", 0) == 1))
    await eventually(lambda: _true(worker.stats.get("lease_extensions", 0) >= 1), timeout=10)
    ex = ("executor", "ex")
    got = await scrape(worker)
    assert got[("collab_worker_claimed_total", (ex, ("type", "m.ok")))] == 3
    assert got[("collab_worker_finished_total", (ex, ("outcome", "succeeded"), ("type", "m.ok")))] == 3
    assert got[("collab_worker_finished_total", (ex, ("outcome", "failed"), ("type", "m.boom")))] == 1
    assert got[("collab_worker_handler_seconds_count", (ex, ("type", "m.ok")))] == 3
    assert got[("collab_worker_handler_seconds_sum", (ex, ("type", "m.ok")))] >= 0.15
    assert got[("collab_worker_lease_extensions_total", (ex,))] >= 1
    assert got[("collab_worker_running", (ex,))] == 1
    assert sum(v for (name, _), v in got.items() if name == "collab_worker_wakeups_total") >= 1
    release.set()
    await eventually(lambda: _true(worker.stats.get("succeeded", 0) == 4))
    worker.metrics.overview = await service.metrics(executor_id="ex")  # what the refresh loop fetches
    got = await scrape(worker)
    assert got[("collab_jobs", (ex, ("state", "succeeded"), ("type", "m.ok")))] == 3
    assert got[("collab_jobs", (ex, ("state", "failed"), ("type", "m.boom")))] == 1
    assert got[("collab_worker_running", (ex,))] == 0


async def _true(value: bool) -> bool:
    return value
