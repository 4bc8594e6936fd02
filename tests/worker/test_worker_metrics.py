"""A worker's Prometheus endpoint (``Worker(metrics_port=0)``, ``collab worker
--metrics-port``): it parses with ``prometheus_client``'s parser and its counters,
histograms and the engine's counts move with real jobs."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from collab_sdk import AsyncCollabClient, Job
from collab_sdk.worker.context import JobContext
from collab_sdk.worker.loop import Worker
from support import Caller, assign, eventually
from support.waiting import wait_for
from support.processes import free_port


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


def test_collab_worker_metrics_port_with_the_engine_counts_and_a_lost_lease(spawn: Any, owner: Caller) -> None:
    """``collab worker --metrics-port`` (here ``COLLAB_METRICS_PORT``) as a real process: the
    refresh loop's engine counts, a claim and a lease lost to a cancel."""
    owner.rpc("assign_jobs_v1", jobs=[{"type": "other.waiting", "executor_id": "ex"}] * 2)  # no handler
    port = free_port()
    proc = spawn(APP_LEASE="3", COLLAB_METRICS_PORT=str(port))
    url = f"http://127.0.0.1:{port}/metrics"

    def scraped() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        try:
            return samples(httpx.get(url, timeout=2).text)
        except httpx.TransportError:
            return None

    wait_for(lambda: scraped() is not None, what="the metrics endpoint")
    ex = ("executor", "ex")
    wait_for(lambda: (scraped() or {}).get(("collab_jobs", (ex, ("state", "queued"), ("type", "other.waiting"))))
             == 2, what="the engine's counts")
    job = assign(owner, type="app.hold", payload={"sleep": 60})
    wait_for(lambda: (scraped() or {}).get(("collab_worker_running", (ex,))) == 1, what="the running job")
    owner.rpc("cancel_job_v1", job_id=job, reason="taken away")
    wait_for(lambda: (scraped() or {}).get(("collab_worker_leases_lost_total", (ex,))) == 1, what="the lost lease")
    got = scraped() or {}
    assert got[("collab_worker_claimed_total", (ex, ("type", "app.hold")))] == 1
    assert got[("collab_worker_finished_total", (ex, ("outcome", "lost"), ("type", "app.hold")))] == 1
    assert got[("collab_active_workers", (ex,))] >= 0 and got[("collab_dead_letters", (ex,))] == 0
    assert f"worker.metrics url=http://0.0.0.0:{port}/metrics" in proc.output()
