"""Live event streams (``watch``, ``watch_job``, ``job_snapshot``) against real PostgreSQL.

The conformance tests run through both transports (the supabase transport polls here;
``tests/sdk/test_realtime.py`` drives its Realtime source). The gapless tests use the
Postgres transport's LISTEN source and kill its connection mid-stream."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.errors import NotFound
from collab_sdk.models import JobEvent, JobStatus
from collab_sdk.transports.base import EventFilter
from collab_sdk.transports.listen import PostgresLiveSource
from collab_sdk.client.sync import CollabClient
from collab_sdk.transports.listen import APPLICATION_NAME
from support import Caller, assign_one_by_one, eventually


async def collect(stream: AsyncIterator[JobEvent], into: list[JobEvent], until: int | None = None) -> None:
    async for event in stream:
        into.append(event)
        if until is not None and len(into) >= until:
            return




def committed(owner: Caller, **where: Any) -> list[int]:
    clause = " and ".join(f"{k} = %({k})s" for k in where) or "true"
    return [r["seq"] for r in owner.sql(f"select seq from collab.job_events where {clause} order by seq", where)]


async def test_watch_job_gives_the_snapshot_then_live_events_and_ends(client: AsyncCollabClient) -> None:
    job_id = (await client.assign("t.watch", executor_id="ex")).job_id
    job = await client.claim("ex", "w1")
    assert job is not None
    seen: list[JobEvent] = []
    watcher = asyncio.create_task(collect(client.watch_job(job_id, poll_interval=0.05), seen))
    await eventually(lambda: len(seen) == 2)  # the snapshot: queued, claimed
    await client.progress(job_id, "w1", {"pct": 50})
    await client.complete(job_id, "w1", result={"ok": True})
    await asyncio.wait_for(watcher, timeout=10)  # ends by itself after succeeded
    assert [e.event_type for e in seen] == ["queued", "claimed", "progress", "succeeded"]
    assert [e.seq for e in seen] == sorted({e.seq for e in seen})
    assert seen[2].payload["pct"] == 50 and all(e.job_id == job_id for e in seen)


async def test_snapshot_then_resume_from_its_seq(client: AsyncCollabClient) -> None:
    job_id = (await client.assign("t.snap", executor_id="ex")).job_id
    assert await client.claim("ex", "w1") is not None
    snap = await client.job_snapshot(job_id)
    assert [e.event_type for e in snap.events] == ["queued", "claimed"] and snap.seq == snap.events[-1].seq
    assert snap.job.id == job_id and snap.job.status is JobStatus.RUNNING
    await client.fail(job_id, "w1", error="boom", retryable=False)
    rest = [e async for e in client.watch_job(job_id, since_seq=snap.seq, poll_interval=0.05)]
    assert [e.event_type for e in rest] == ["failed"] and rest[0].seq > snap.seq


async def test_executor_stream_filters_and_resumes(client: AsyncCollabClient) -> None:
    ids = [(await client.assign("t.e", executor_id="exec-a")).job_id for _ in range(3)]
    await client.assign("t.e", executor_id="exec-b")
    first: list[JobEvent] = []
    await collect(client.watch(executor_id="exec-a", poll_interval=0.05), first, until=2)
    rest: list[JobEvent] = []
    await collect(client.watch(executor_id="exec-a", since_seq=first[-1].seq, poll_interval=0.05), rest, until=1)
    assert [e.job_id for e in first + rest] == ids and {e.executor_id for e in first + rest} == {"exec-a"}


async def test_a_member_never_receives_another_executors_events(connect: Any, member: Any,
                                                                client: AsyncCollabClient) -> None:
    user = await connect(as_="user", user_id=member({"exec-a": "client"}))
    b_job = (await client.assign("t.b", executor_id="exec-b")).job_id
    with pytest.raises(NotFound):
        await anext(user.watch_job(b_job, poll_interval=0.05))
    seen: list[JobEvent] = []
    watcher = asyncio.create_task(collect(user.watch(poll_interval=0.05), seen))
    await client.assign("t.b", executor_id="exec-b")
    a_job = (await client.assign("t.a", executor_id="exec-a")).job_id
    await eventually(lambda: len(seen) == 1)
    await asyncio.sleep(0.3)
    watcher.cancel()
    assert [(e.job_id, e.executor_id) for e in seen] == [(a_job, "exec-a")]


def test_the_blocking_client_watches_too(db_url: str) -> None:
    with CollabClient.from_url(db_url) as client:
        job_id = client.assign("t.sync", executor_id="ex").job_id
        job = client.claim("ex", "w1")
        assert job is not None
        client.complete(job_id, "w1", result=None)
        assert [e.event_type for e in client.watch_job(job_id)] == ["queued", "claimed", "succeeded"]
        assert client.job_snapshot(job_id).job.status is JobStatus.SUCCEEDED


class _EarlyOnly:
    """A live source that passes on only notifications carrying ``"early"``: the
    transaction's own notification never arrives."""

    def __init__(self, url: str) -> None:
        self.inner = PostgresLiveSource(url)

    async def run(self, events: EventFilter, wake: Callable[[], None], stop: asyncio.Event) -> None:
        await self.inner.run(_OnlyEarly(), wake, stop)


class _OnlyEarly(EventFilter):
    def matches_hint(self, payload: str) -> bool:
        return "early" in payload


async def test_an_early_or_missing_notification_loses_nothing(db_url: str, owner: Caller) -> None:
    async with AsyncCollabClient.from_url(db_url) as client:
        job_id = (await client.assign("t.early", executor_id="ex")).job_id
        assert await client.claim("ex", "w1") is not None
        source = _EarlyOnly(db_url)
        seen: list[JobEvent] = []
        watcher = asyncio.create_task(collect(client.watch(job_id=job_id, poll_interval=0.5, source=source), seen))
        await eventually(lambda: len(seen) == 2)
        await eventually(lambda: source.inner.listener is not None and source.inner.listener.connected.is_set())
        with psycopg.connect(db_url, autocommit=True) as writer:
            with writer.transaction():
                writer.execute("select collab.append_job_event_v1(job_id => %s, worker_id => 'w1',"
                               " payload => '{\"n\": 1}')", (job_id,))
                owner.sql("select pg_notify('collab_events', %s)", (f'{{"job_id": "{job_id}", "early": 1}}',))
                await asyncio.sleep(0.2)  # woken now: the row is not visible yet
                assert len(seen) == 2
            started = time.monotonic()
            await eventually(lambda: len(seen) == 3)  # no notification comes: the poll finds it
        assert time.monotonic() - started < 2.0
        assert source.inner.listener is not None and source.inner.listener.notifications == 1  # only the early one
        watcher.cancel()
        assert [e.event_type for e in seen] == ["queued", "claimed", "progress"]


@pytest.mark.slow
async def test_gapless_across_killed_connections(db_url: str, owner: Caller) -> None:
    """1,000 events over 20 jobs, written by transactions held open for random times
    (some rolled back); the consumer joins midway and its LISTEN connection is killed
    twice: it ends with exactly the committed events, in seq order, once each."""
    executor = "gapless"
    jobs = [r["job_id"] for r in owner.rpc("assign_jobs_v1", jobs=[{"type": "t.g", "executor_id": executor}] * 20)]
    owner.rpc("claim_jobs_v1", executor_id=executor, worker_id="w1", max_jobs=20)
    owner.rpc("assign_job_v1", type="t.noise", executor_id="other")
    appends_per_thread = (1000 - 40) // 4
    progress = {"n": 40}

    def producer(n: int) -> None:
        rng = random.Random(n)
        with psycopg.connect(db_url, autocommit=True) as conn:
            made = 0
            while made < appends_per_thread:
                if progress["n"] >= 700:  # hold the last events back until both kills are done
                    kills_done.wait(30)
                rollback = rng.random() < 0.1
                try:
                    with conn.transaction():
                        conn.execute("select collab.append_job_event_v1(job_id => %s, worker_id => 'w1')",
                                     (rng.choice(jobs),))
                        conn.execute("select collab.assign_job_v1(type => 't.noise', executor_id => 'other')")
                        time.sleep(rng.random() * 0.01)
                        if rollback:
                            raise ZeroDivisionError
                    made += 1
                    progress["n"] += 1
                except ZeroDivisionError:
                    pass

    kills_done = threading.Event()
    threads = [threading.Thread(target=producer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    threads_done = asyncio.get_running_loop().run_in_executor(None, lambda: [t.join() for t in threads])
    while progress["n"] < 300:
        await asyncio.sleep(0.01)
    seen: list[JobEvent] = []
    async with AsyncCollabClient.from_url(db_url) as client:
        source = PostgresLiveSource(db_url)
        consumer = asyncio.create_task(collect(client.watch(executor_id=executor, poll_interval=5, source=source), seen))
        killed_at: list[int] = []
        with psycopg.connect(db_url, autocommit=True) as conn:
            for _ in range(2):
                await eventually(lambda: len(listener_pids(conn)) == 1)
                await asyncio.sleep(0.15)
                killed = listener_pids(conn)
                killed_at.append(progress["n"])
                conn.execute("select pg_terminate_backend(%s)", killed)
                await eventually(lambda: listener_pids(conn) not in ([], killed))  # it came back
        kills_done.set()
        await threads_done
        await eventually(lambda: len(seen) >= 1000, timeout=30)
        await asyncio.sleep(0.3)  # nothing more may come
        consumer.cancel()
    expected = committed(owner, executor_id=executor)
    assert len(expected) == 1000 and killed_at[-1] < 1000, killed_at  # killed while events flowed
    assert [e.seq for e in seen] == expected


def listener_pids(conn: psycopg.Connection[Any]) -> list[int]:
    rows = conn.execute("select pid from pg_stat_activity where application_name = %s",
                        (APPLICATION_NAME,)).fetchall()
    return [r[0] for r in rows]


async def test_a_timed_out_wait_loses_nothing(client: AsyncCollabClient) -> None:
    job_id = (await client.assign("t.wait", executor_id="ex")).job_id
    async with client.watch_job(job_id, poll_interval=0.05) as stream:
        assert (await anext(stream)).event_type == "queued"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(stream), 0.2)  # cancels the pending read
        assert await client.claim("ex", "w1") is not None
        assert (await asyncio.wait_for(anext(stream), 10)).event_type == "claimed"
    with pytest.raises(StopAsyncIteration):
        await anext(stream)  # closed



async def _listening_watch(db_url: str, client: AsyncCollabClient, into: list[JobEvent],
                           **where: Any) -> asyncio.Task[None]:
    """A watch that only a wake-up can move (it polls every 60 s), its LISTEN connected
    and its first read done."""
    source = PostgresLiveSource(db_url)
    task = asyncio.create_task(collect(client.watch(poll_interval=60, source=source, **where), into))
    await eventually(lambda: source.listener is not None and source.listener.connected.is_set())
    await asyncio.sleep(0.2)  # the read after connecting
    return task


async def test_ten_thousand_statements_in_one_transaction_reach_the_stream(db_url: str, owner: Caller) -> None:
    """A handful of hints for 10,000 statements (tests/engine/test_event_stream.py) still
    wake the stream, which reads all 10,000 events by seq."""
    async with AsyncCollabClient.from_url(db_url) as client:
        seen: list[JobEvent] = []
        watcher = await _listening_watch(db_url, client, seen, executor_id="ex")
        ids = await asyncio.to_thread(assign_one_by_one, db_url, ["ex"] * 10_000)
        await eventually(lambda: len(seen) >= 10_000, timeout=30)
        watcher.cancel()
    assert [str(e.job_id) for e in seen] == ids and [e.seq for e in seen] == committed(owner)


async def test_a_transaction_over_several_executors_wakes_each_executors_streams(
        db_url: str, owner: Caller) -> None:
    """Executor streams of a and b, and the stream of a job of a that the transaction
    touches after its executor's named hints ran out (the hint then names no job)."""
    late = (await asyncio.to_thread(owner.one, "assign_job_v1", type="t.late", executor_id="a"))["job_id"]  # type: ignore[index]
    async with AsyncCollabClient.from_url(db_url) as client:
        streams: dict[str, list[JobEvent]] = {"a": [], "b": [], "job": []}
        watchers = [await _listening_watch(db_url, client, streams["a"], executor_id="a"),
                    await _listening_watch(db_url, client, streams["b"], executor_id="b"),
                    await _listening_watch(db_url, client, streams["job"], job_id=late)]
        await eventually(lambda: len(streams["a"]) == len(streams["job"]) == 1)

        def one_transaction() -> None:
            with psycopg.connect(db_url) as writer:
                for executor in ["a", "b"] * 6:
                    writer.execute("select collab.assign_job_v1(type => 't.x', executor_id => %s)", (executor,))
                writer.execute("select collab.cancel_job_v1(job_id => %s)", (late,))

        await asyncio.to_thread(one_transaction)
        await eventually(lambda: len(streams["a"]) == 8 and len(streams["b"]) == 6 and len(streams["job"]) == 2,
                         timeout=10)
        for watcher in watchers:
            watcher.cancel()
    assert [e.event_type for e in streams["job"]] == ["queued", "cancelled"]
    assert {e.executor_id for e in streams["a"]} == {"a"} and {e.executor_id for e in streams["b"]} == {"b"}
