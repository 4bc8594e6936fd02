"""In-process workers: handlers, results, failures, leases and wake-ups."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from pydantic import BaseModel

from collab_sdk import AsyncCollabClient, Job
from collab_sdk.worker.context import JobContext, SyncJobContext
from collab_sdk.models import JobStatus
from collab_sdk.worker.tasks import PermanentFailure, Retry
from collab_sdk.worker.loop import Worker
from support import eventually, waiting_sessions


class Greeting(BaseModel):
    name: str


async def _status(service: AsyncCollabClient, job_id: Any, status: str) -> bool:
    return (await service.get_job(job_id)).status.value == status


async def test_async_and_sync_handlers_complete_with_results(service: AsyncCollabClient, start_worker: Any) -> None:
    def register(worker: Worker) -> None:
        @worker.task("greet")
        async def greet(job: Job[Greeting], ctx: JobContext) -> dict[str, str]:
            await ctx.progress(50, stage="half")
            return {"hello": job.payload.name}

        @worker.task(prefix="sync.")
        def shout(job: Job, ctx: SyncJobContext) -> Greeting:
            ctx.log("shouting", attempt=ctx.attempt)
            return Greeting(name=str(job.payload["name"]).upper())

    await start_worker(register)
    a = (await service.assign("greet", executor_id="ex", payload={"name": "ada"})).job_id
    b = (await service.assign("sync.shout", executor_id="ex", payload={"name": "bob"})).job_id
    await eventually(lambda: _status(service, a, "succeeded"))
    await eventually(lambda: _status(service, b, "succeeded"))
    assert (await service.get_job(a)).result == {"hello": "ada"}
    assert (await service.get_job(b)).result == {"name": "BOB"}
    events = [e.event_type for e in await service.events(a)]
    assert events == ["queued", "claimed", "progress", "succeeded"]
    assert "log" in [e.event_type for e in await service.events(b)]


async def test_failures_retry_then_dead_letter(service: AsyncCollabClient, start_worker: Any, owner: Any) -> None:
    from support import make_due

    calls: list[int] = []

    def register(worker: Worker) -> None:
        @worker.task("boom")
        async def boom(job: Job, ctx: JobContext) -> None:
            calls.append(ctx.attempt)
            raise RuntimeError(f"boom {ctx.attempt}")

    await start_worker(register)
    job_id = (await service.assign("boom", executor_id="ex", max_attempts=2)).job_id
    await eventually(lambda: _status(service, job_id, "queued") if calls else _false())
    job = await service.get_job(job_id)
    assert job.attempts == 1 and "RuntimeError: boom 1" in (job.last_error or "")
    assert job.next_run_at and job.updated_at and (job.next_run_at - job.updated_at).total_seconds() >= 3.7
    make_due(owner, job_id)
    await eventually(lambda: _status(service, job_id, "failed"))
    assert calls == [1, 2]
    dead = await service.dlq_list(executor_id="ex")
    assert dead.count == 1 and dead.items[0].reason == "max_attempts"


async def _false() -> bool:
    return False


async def test_explicit_retry_permanent_failure_and_bad_payload(service: AsyncCollabClient, start_worker: Any) -> None:
    def register(worker: Worker) -> None:
        @worker.task("retry")
        async def retry(job: Job, ctx: JobContext) -> str:
            if ctx.attempt == 1:
                raise Retry("not yet", after=0)
            return "second time"

        @worker.task("perm")
        async def perm(job: Job, ctx: JobContext) -> None:
            raise PermanentFailure("no way")

        @worker.task("typed")
        async def typed(job: Job[Greeting], ctx: JobContext) -> None:
            raise AssertionError("must not run with a bad payload")

    await start_worker(register)
    r = (await service.assign("retry", executor_id="ex")).job_id
    p = (await service.assign("perm", executor_id="ex", max_attempts=5)).job_id
    t = (await service.assign("typed", executor_id="ex", payload={"nom": "x"}, max_attempts=5)).job_id
    await eventually(lambda: _status(service, r, "succeeded"))
    await eventually(lambda: _status(service, p, "failed"))
    await eventually(lambda: _status(service, t, "failed"))
    assert (await service.get_job(r)).attempts == 2
    perm_job = await service.get_job(p)
    assert perm_job.attempts == 1 and "no way" in (perm_job.last_error or "")
    typed_job = await service.get_job(t)
    assert typed_job.attempts == 1 and "not a valid Greeting" in (typed_job.last_error or "")
    assert "name" in (typed_job.last_error or "")


async def test_timeout_fails_retryably(service: AsyncCollabClient, start_worker: Any) -> None:
    def register(worker: Worker) -> None:
        @worker.task("slow", timeout=0.3)
        async def slow(job: Job, ctx: JobContext) -> None:
            await asyncio.sleep(30)

    await start_worker(register)
    job_id = (await service.assign("slow", executor_id="ex")).job_id
    await eventually(lambda: _has_error(service, job_id, "timed out after 0.3s"))


async def _has_error(service: AsyncCollabClient, job_id: Any, text: str) -> bool:
    return text in ((await service.get_job(job_id)).last_error or "")


async def test_lease_is_extended_for_a_long_handler(service: AsyncCollabClient, start_worker: Any) -> None:
    def register(worker: Worker) -> None:
        @worker.task("long")
        async def long(job: Job, ctx: JobContext) -> str:
            await asyncio.sleep(4.5)  # three times the lease
            return "done"

    await start_worker(register, lease_seconds=1.5)
    job_id = (await service.assign("long", executor_id="ex")).job_id
    await eventually(lambda: _status(service, job_id, "running"))
    for _ in range(8):  # a thief tries to take it the whole time
        assert await service.claim("ex", "thief") is None
        await asyncio.sleep(0.5)
    await eventually(lambda: _status(service, job_id, "succeeded"))
    job = await service.get_job(job_id)
    assert job.attempts == 1 and job.result == "done"


async def test_stolen_lease_cancels_the_handler(service: AsyncCollabClient, start_worker: Any, owner: Any) -> None:
    from support import expire_lease

    cancelled = asyncio.Event()

    def register(worker: Worker) -> None:
        @worker.task("victim")
        async def victim(job: Job, ctx: JobContext) -> str:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return "late"

    worker = await start_worker(register, lease_seconds=3, concurrency=1)  # full: cannot reclaim it
    job_id = (await service.assign("victim", executor_id="ex")).job_id
    await eventually(lambda: _status(service, job_id, "running"))
    expire_lease(owner, job_id)
    stolen = await service.claim("ex", "thief")
    assert stolen is not None and stolen.id == job_id and stolen.attempts == 2
    await asyncio.wait_for(cancelled.wait(), timeout=10)
    await service.complete(job_id, "thief", result="thief's", attempt=2)
    await eventually(lambda: _async_true(worker.stats.get("lost", 0) == 1))
    assert (await service.get_job(job_id)).result == "thief's"


async def _async_true(value: bool) -> bool:
    return value


async def test_unhandled_types_stay_queued(service: AsyncCollabClient, start_worker: Any) -> None:
    def register(worker: Worker) -> None:
        @worker.task("mine")
        async def mine(job: Job, ctx: JobContext) -> None:
            return None

    await start_worker(register)
    other = (await service.assign("theirs", executor_id="ex", max_attempts=1)).job_id
    done = (await service.assign("mine", executor_id="ex")).job_id
    await eventually(lambda: _status(service, done, "succeeded"))
    await asyncio.sleep(1.0)
    job = await service.get_job(other)
    assert job.status is JobStatus.QUEUED and job.attempts == 0


async def test_listen_wakes_an_idle_worker(service: AsyncCollabClient, start_worker: Any) -> None:
    started = asyncio.Event()

    def register(worker: Worker) -> None:
        @worker.task("ping")
        async def ping(job: Job, ctx: JobContext) -> None:
            started.set()

    worker = await start_worker(register, poll_interval=60)
    assert worker.listener is not None
    await asyncio.wait_for(worker.listener.connected.wait(), timeout=10)
    await asyncio.sleep(0.3)  # idle: the first claims found nothing
    before = worker.listener.notifications
    await service.assign("ping", executor_id="ex")
    await asyncio.wait_for(started.wait(), timeout=5)  # far below the 60 s poll interval
    assert worker.listener.notifications > before and worker.stats.get("polls", 0) == 0


async def test_a_busy_worker_is_not_woken_and_an_idle_one_always_is(
        service: AsyncCollabClient, start_worker: Any, db_url: str) -> None:
    """The engine notifies only waiting workers: with its one slot busy the worker's
    listener gets nothing for new jobs (it claims them when the slot frees); idle and
    waiting again, each of 20 jobs assigned one at a time wakes it by a NOTIFY, well
    inside its 60 s poll."""
    release, holding, started = asyncio.Event(), asyncio.Event(), asyncio.Queue()

    def register(worker: Worker) -> None:
        @worker.task("hold")
        async def hold(job: Job, ctx: JobContext) -> None:
            holding.set()
            await release.wait()

        @worker.task("ping")
        async def ping(job: Job, ctx: JobContext) -> None:
            started.put_nowait(job.id)

    worker = await start_worker(register, concurrency=1, poll_interval=60)
    await asyncio.wait_for(worker.listener.connected.wait(), timeout=10)
    await service.assign("hold", executor_id="ex")
    await asyncio.wait_for(holding.wait(), timeout=10)
    await eventually(lambda: waiting_sessions(db_url) == 0)
    before = worker.listener.notifications
    queued = [(await service.assign("ping", executor_id="ex")).job_id for _ in range(3)]
    await asyncio.sleep(0.3)
    assert worker.listener.notifications == before  # busy: nobody waits, nothing sent
    release.set()
    assert {await asyncio.wait_for(started.get(), timeout=5) for _ in queued} == set(queued)
    for _ in range(20):
        await eventually(lambda: worker.listener.settled and waiting_sessions(db_url) == 1)
        await asyncio.sleep(0.05)  # idle: past its last claim, asleep until a wake-up
        job_id = (await service.assign("ping", executor_id="ex")).job_id
        assert await asyncio.wait_for(started.get(), timeout=5) == job_id
    assert worker.stats.get("polls", 0) == 0 and worker.listener.notifications >= before + 20


async def test_on_a_database_without_waiting_the_worker_is_woken_as_before(
        service: AsyncCollabClient, start_worker: Any, db_url: str, monkeypatch: Any) -> None:
    """A database older than wait_for_jobs_v1 notifies whoever listens: the worker
    notices once, then sleeps between claims (no claim spin) and is woken by NOTIFY."""
    claims = []
    claim = AsyncCollabClient.complete_and_claim_many

    async def counted(self: AsyncCollabClient, *args: Any, **kwargs: Any) -> Any:
        claims.append(1)
        return await claim(self, *args, **kwargs)

    monkeypatch.setattr(AsyncCollabClient, "complete_and_claim_many", counted)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("drop function collab.wait_for_jobs_v1(text)")
        conn.execute("create or replace function collab._notify_claimable(executor_ids text[]) returns void"
                     " language sql as $$ select pg_notify('collab_jobs', e) from unnest(executor_ids) e $$")
    started: asyncio.Queue[Any] = asyncio.Queue()

    def register(worker: Worker) -> None:
        @worker.task("ping")
        async def ping(job: Job, ctx: JobContext) -> None:
            started.put_nowait(job.id)

    worker = await start_worker(register, concurrency=1, poll_interval=60)
    await asyncio.wait_for(worker.listener.connected.wait(), timeout=10)
    for _ in range(5):
        await asyncio.sleep(0.1)
        job_id = (await service.assign("ping", executor_id="ex")).job_id
        assert await asyncio.wait_for(started.get(), timeout=5) == job_id
    before = len(claims)
    await asyncio.sleep(0.5)
    assert not worker.listener.gated and len(claims) <= before + 1  # asleep, not spinning
    assert worker.listener.notifications >= 5


async def test_periodic_tick_is_enqueued_once_across_workers(service: AsyncCollabClient, start_worker: Any) -> None:
    from datetime import datetime, timezone

    workers = [await start_worker(lambda w: None) for _ in range(3)]
    tick = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)
    results = await asyncio.gather(*(w.enqueue_tick(tick, "reports.hourly", {"k": 1}) for w in workers))
    assert sorted(results) == [False, False, True]
    page = await service.jobs_recent(executor_id="ex", type="reports.hourly")
    assert page.count == 1 and page.items[0].idempotency_key == "periodic:reports.hourly:2026-11-23T03:00:00+00:00"


async def test_periodic_in_a_time_zone_keys_its_tick_in_utc(service: AsyncCollabClient, start_worker: Any) -> None:
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    import pytest

    from collab_sdk.errors import ValidationError

    def register(worker: Worker) -> None:
        worker.periodic("0 9 * * mon-fri", "reports.daily", {"k": 1}, timezone="Europe/Paris")
        with pytest.raises(ValidationError):
            worker.periodic("0 9 * * *", "reports.never", timezone="Mars/Olympus_Mons")

    workers = [await start_worker(register) for _ in range(2)]
    job = workers[0].schedule.jobs[0]
    tick = job.cron.next_after(datetime(2026, 7, 15, 12, tzinfo=timezone.utc))  # a Wednesday
    paris = tick.astimezone(ZoneInfo("Europe/Paris"))
    assert paris.hour == 9 and tick.hour == 7
    results = [await w.enqueue_tick(t, job.type, job.payload) for w, t in zip(workers, (tick, paris))]
    assert results == [True, False]  # the same instant in another zone is the same tick
    page = await service.jobs_recent(executor_id="ex", type="reports.daily")
    assert [j.idempotency_key for j in page.items] == ["periodic:reports.daily:2026-07-16T07:00:00+00:00"]


async def test_batched_completions_and_a_bad_result_fails_alone(service: AsyncCollabClient, start_worker: Any) -> None:
    def register(worker: Worker) -> None:
        @worker.task("ok")
        async def ok(job: Job, ctx: JobContext) -> int:
            return int(job.payload["i"])

        @worker.task("bad")
        async def bad(job: Job, ctx: JobContext) -> object:
            return object()  # not JSON

    worker = await start_worker(register, concurrency=50)
    await service.assign_many([{"type": "ok", "executor_id": "ex", "payload": {"i": i}} for i in range(40)]
                              + [{"type": "bad", "executor_id": "ex", "max_attempts": 5}])
    await eventually(lambda: _async_true((worker.stats.get("succeeded", 0), worker.stats.get("failed", 0)) == (40, 1)))
    stats = await service.stats(executor_id="ex")
    assert stats.succeeded == 40 and stats.failed == 1
    failed = (await service.jobs_recent(executor_id="ex", status="failed")).items[0]
    assert failed.type == "bad" and failed.attempts == 1 and "invalid result" in (failed.last_error or "")


async def test_handlers_never_exceed_the_concurrency(service: AsyncCollabClient, start_worker: Any) -> None:
    """A slot frees when its handler ends, so the next claim can overlap the storing of
    results; but no more than ``concurrency`` handlers ever run at once."""
    now, peak = 0, 0

    def register(worker: Worker) -> None:
        @worker.task("t.slot")
        async def slot(job: Job, ctx: JobContext) -> None:
            nonlocal now, peak
            now += 1
            peak = max(peak, now)
            await asyncio.sleep(0.02)
            now -= 1

    worker = await start_worker(register, concurrency=3)
    await service.assign_many([{"type": "t.slot", "executor_id": "ex"}] * 30)
    await eventually(lambda: worker.stats.get("succeeded", 0) == 30)
    assert peak == 3
    assert (await service.stats(executor_id="ex")).succeeded == 30
