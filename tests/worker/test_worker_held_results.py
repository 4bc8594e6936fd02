"""In-process: a finished result that waits out a read-only database is still fenced — held
past its lease it is refused, dropped and counted, and the job runs again under a new
claim — and an event stream reads on through a failover into a read-only database."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from collab_sdk import AsyncCollabClient, Job
from collab_sdk.logs import FIELDS_ATTRIBUTE
from collab_sdk.worker.context import JobContext
from collab_sdk.worker.loop import Worker
from support import eventually
from support.faults import set_read_only

pytestmark = pytest.mark.slow


async def _status(service: AsyncCollabClient, job_id: Any) -> str:
    return (await service.get_job(job_id)).status.value


async def test_a_result_held_past_its_lease_is_dropped_counted_and_the_job_runs_again(
        db_url: str, service: AsyncCollabClient, start_worker: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="collab.worker")
    runs: list[int] = []
    finished = asyncio.Event()

    def register(worker: Worker) -> None:
        @worker.task("held")
        async def held(job: Job, ctx: JobContext) -> dict[str, int]:
            runs.append(ctx.attempt)
            await asyncio.sleep(0.3)
            finished.set()
            return {"attempt": ctx.attempt}

    job_id = (await service.assign("held", executor_id="ex")).job_id
    worker = await start_worker(register, lease_seconds=3)
    await eventually(lambda: runs == [1])
    await asyncio.to_thread(set_read_only, db_url, True)
    try:
        await asyncio.wait_for(finished.wait(), 5)  # its result now waits in memory
        await asyncio.sleep(3.5)  # past the 3 s lease, which no one could extend
        assert await _status(service, job_id) == "running"
    finally:
        await asyncio.to_thread(set_read_only, db_url, False)
    await eventually(lambda: worker.stats.get("results_dropped") == 1, timeout=15)
    await eventually(lambda: _status_is(service, job_id, "succeeded"), timeout=30)
    job = await service.get_job(job_id)
    assert runs == [1, 2] and job.result == {"attempt": 2}  # the fence refused the first result
    assert worker.metrics.registry.get_sample_value(
        "collab_worker_results_dropped_total", {"executor": "ex"}) == 1
    lost = [r for r in caplog.records if r.getMessage() == "job.finished"
            and getattr(r, FIELDS_ATTRIBUTE, {}).get("outcome") == "lost"]
    assert len(lost) == 1


async def _status_is(service: AsyncCollabClient, job_id: Any, status: str) -> bool:
    return await _status(service, job_id) == status


async def test_an_event_stream_reads_on_through_a_failover(db_url: str, service: AsyncCollabClient,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    first = [(await service.assign("s", executor_id="ex")).job_id for _ in range(3)]
    watcher = AsyncCollabClient.from_url(db_url, max_size=2)
    seen: list[Any] = []
    stream = watcher.watch(executor_id="ex", poll_interval=0.2)

    async def read() -> None:
        async for event in stream:
            seen.append(event)

    reading = asyncio.create_task(read())
    try:
        await eventually(lambda: len(seen) == 3)
        await asyncio.to_thread(set_read_only, db_url, True)
        try:
            await asyncio.to_thread(_terminate_others, db_url)
            await asyncio.sleep(2)
        finally:
            await asyncio.to_thread(set_read_only, db_url, False)
        later = [(await service.assign("s", executor_id="ex")).job_id for _ in range(3)]
        await eventually(lambda: len(seen) == 6, timeout=20)
        assert [e.job_id for e in seen] == first + later and len({e.seq for e in seen}) == 6
        assert not reading.done()
    finally:
        reading.cancel()
        await stream.aclose()
        await watcher.aclose()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(("database.", "listen."))]
    assert lines.count("listen.lost") <= 1 and lines.count("database.unavailable") <= 1, lines


def _terminate_others(url: str) -> None:
    import psycopg
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                     "where datname = current_database() and pid <> pg_backend_pid()")


async def test_a_handlers_progress_waits_out_a_read_only_database(
        db_url: str, service: AsyncCollabClient, start_worker: Any) -> None:
    started, go = asyncio.Event(), asyncio.Event()

    def register(worker: Worker) -> None:
        @worker.task("progressing")
        async def progressing(job: Job, ctx: JobContext) -> dict[str, bool]:
            started.set()
            await go.wait()
            await ctx.progress(50, stage="half")  # meets the read-only database
            return {"ok": True}

    job_id = (await service.assign("progressing", executor_id="ex")).job_id
    await start_worker(register, lease_seconds=30)
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.to_thread(set_read_only, db_url, True)
    try:
        go.set()
        await asyncio.sleep(1.5)
        assert "progress" not in [e.event_type for e in await service.events(job_id)]
    finally:
        await asyncio.to_thread(set_read_only, db_url, False)
    await eventually(lambda: _status_is(service, job_id, "succeeded"), timeout=20)
    job = await service.get_job(job_id)
    assert job.attempts == 1 and job.result == {"ok": True}  # the handler neither failed nor ran again
    assert [e.event_type for e in await service.events(job_id)] == ["queued", "claimed", "progress", "succeeded"]
