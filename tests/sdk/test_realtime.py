"""Supabase Realtime over a real websocket and the real database: ``watch`` woken by
``postgres_changes`` (the subscription asked for, prompt delivery, resubscribe and
catch-up after a dropped socket, RLS, pushes to ignore) and a worker's presence and
broadcasts (and its jobs carrying on while Realtime is down).

Channels are private, on databases with Realtime's schema and collab's policies.
The Supabase URL is the Realtime stand-in's ``http://127.0.0.1:<port>``: supabase-py
opens its websocket there, and the PostgREST stand-in answers ``/rest/v1`` on the same
host and port through respx. Streams poll every 30 s, so only Realtime can wake them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import pytest

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.worker.context import JobContext
from collab_sdk.models import Job, JobEvent
from collab_sdk.worker.presence import PRESENCE_FIELDS, WorkerPresence
from collab_sdk.transports.supabase.realtime import RealtimeLiveSource
from collab_sdk.client.streams import EventStream, live_source_for
from collab_sdk.transports.supabase.rpc import SupabaseTransport
from collab_sdk.worker.loop import Worker
from support.postgrest_standin import PUBLISHABLE_KEY, SECRET_KEY, PostgrestStandin, user_token
from realtime_standin import RealtimeStandin
from support import Caller
from support.supabase import supabase_db_url, supabase_template_db

pytestmark = pytest.mark.filterwarnings("ignore:ConnectionClosed:DeprecationWarning")  # realtime-py's
POLL = 30.0
Open = Callable[..., AsyncCollabClient]
__all__ = ["supabase_template_db"]  # a fixture used here


@pytest.fixture
def db_url(supabase_db_url: str) -> str:
    """This module's databases have Realtime's schema, so collab's channel policies apply."""
    return supabase_db_url


@pytest.fixture
async def realtime(db_url: str) -> AsyncIterator[RealtimeStandin]:
    """Supabase Realtime on a local port, fed by this test's database."""
    async with RealtimeStandin(db_url) as server:
        yield server


@pytest.fixture
async def open_client(db_url: str, realtime: RealtimeStandin) -> AsyncIterator[Open]:
    """``open_client()`` → a service client; ``open_client(token=jwt)`` → that user's;
    both over ``SupabaseTransport`` at the stand-ins' URL (closed after the test)."""
    made: list[AsyncCollabClient] = []

    def make(token: str | None = None) -> AsyncCollabClient:
        key = SECRET_KEY if token is None else PUBLISHABLE_KEY
        client = AsyncCollabClient(SupabaseTransport(realtime.url, key, access_token=token))
        made.append(client)
        return client

    async with PostgrestStandin(db_url, base_url=realtime.url):
        yield make
        for client in made:
            await client.aclose()


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def follow(stream: EventStream) -> tuple[list[JobEvent], asyncio.Task[None]]:
    """Collect ``stream`` into a list in the background; cancelling closes the stream."""
    seen: list[JobEvent] = []

    async def run() -> None:
        async with stream:
            async for event in stream:
                seen.append(event)
    return seen, asyncio.create_task(run())


def source_of(client: AsyncCollabClient) -> RealtimeLiveSource:
    source = live_source_for(client.transport)
    assert isinstance(source, RealtimeLiveSource)
    return source


async def watching_a_claimed_job(client: AsyncCollabClient, *, whole_executor: bool) -> tuple[
        UUID, RealtimeLiveSource, list[JobEvent], asyncio.Task[None]]:
    """A claimed job of executor ``ex``, followed through Realtime (the job, or the
    whole executor): returned once its two events are in and the channel is subscribed."""
    job_id = (await client.assign("t.rt", executor_id="ex")).job_id
    assert await client.claim("ex", "w1") is not None
    source = source_of(client)
    stream = (client.watch(executor_id="ex", poll_interval=POLL, source=source) if whole_executor
              else client.watch_job(job_id, poll_interval=POLL, source=source))
    seen, watcher = follow(stream)
    await eventually(lambda: len(seen) == 2 and source.subscriptions == 1)
    return job_id, source, seen, watcher


async def test_the_subscription_asks_for_job_event_inserts_as_the_user(
        realtime: RealtimeStandin, open_client: Open, member: Any) -> None:
    user_id = member({"exec-a": "client"})
    token = user_token(user_id)
    service, user = open_client(), open_client(token)
    job_id = (await service.assign("t.rt", executor_id="exec-a")).job_id
    sources = [source_of(user) for _ in range(3)]
    tasks = [follow(stream)[1] for stream in (
        user.watch_job(job_id, poll_interval=POLL, source=sources[0]),
        user.watch(executor_id="exec-a", poll_interval=POLL, source=sources[1]),
        user.watch(poll_interval=POLL, source=sources[2]))]
    await eventually(lambda: all(s.subscriptions == 1 for s in sources))
    filters = sorted(str(j.payload["config"]["postgres_changes"][0].get("filter")) for j in realtime.joins)
    assert filters == ["None", "executor_id=eq.exec-a", f"job_id=eq.{job_id}"]
    for join in realtime.joins:
        assert join.payload["access_token"] == token and join.apikey == PUBLISHABLE_KEY
        assert (join.role, join.claims["sub"]) == ("authenticated", str(user_id))
        assert join.payload["config"]["private"] is True
        [binding] = join.payload["config"]["postgres_changes"]
        assert (binding["event"], binding["schema"], binding["table"]) == ("INSERT", "collab", "job_events")
    path = urlsplit(realtime.handshakes[0])
    assert path.path == "/realtime/v1/websocket"
    assert parse_qs(path.query) == {"apikey": [PUBLISHABLE_KEY], "vsn": ["1.0.0"]}
    assert len(realtime.handshakes) == 1  # one socket for the transport's channels
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await eventually(lambda: not realtime._sockets)  # the last channel left: socket closed


async def test_watch_job_is_woken_by_realtime_promptly_and_in_seq_order(
        realtime: RealtimeStandin, open_client: Open, owner: Caller) -> None:
    client = open_client()
    job_id, source, seen, watcher = await watching_a_claimed_job(client, whole_executor=False)
    for n in range(3):
        started = time.monotonic()
        await client.progress(job_id, "w1", {"n": n})
        await eventually(lambda: len(seen) == 3 + n, timeout=2.0)
        assert time.monotonic() - started < 2.0
    await client.complete(job_id, "w1", result={"ok": True})
    await asyncio.wait_for(watcher, timeout=5)  # ends after succeeded, woken by its push
    assert [e.event_type for e in seen] == ["queued", "claimed", "progress", "progress", "progress", "succeeded"]
    assert [e.seq for e in seen] == [r["seq"] for r in owner.sql(
        "select seq from collab.job_events where job_id = %s order by seq", (job_id,))]
    assert source.changes >= 4 and source.ignored == 0  # (queued, claimed: if still unhandled)


async def test_after_a_dropped_socket_it_resubscribes_and_catches_up_exactly_once(
        realtime: RealtimeStandin, open_client: Open, owner: Caller) -> None:
    client = open_client()
    job_id, source, seen, watcher = await watching_a_claimed_job(client, whole_executor=True)
    await client.progress(job_id, "w1", {"n": 0})
    await eventually(lambda: len(seen) == 3)
    assert await realtime.drop_connections(refuse_for=0.5) == 1
    for n in range(1, 4):  # committed while nobody is subscribed: never pushed
        await client.progress(job_id, "w1", {"n": n})
    pushed = len(realtime.pushed)
    await eventually(lambda: source.subscriptions == 2)  # resubscribed: that woke the stream
    await eventually(lambda: len(seen) == 6)
    assert len(realtime.pushed) == pushed and len(realtime.handshakes) == 2
    await client.progress(job_id, "w1", {"n": 4})  # and live again on the new channel
    await eventually(lambda: len(seen) == 7)
    await asyncio.sleep(0.2)
    watcher.cancel()
    expected = [r["seq"] for r in owner.sql("select seq from collab.job_events where executor_id = 'ex' order by seq")]
    assert [e.seq for e in seen] == expected  # each once, in order
    assert [e.payload.get("n") for e in seen[2:]] == [0, 1, 2, 3, 4]


async def test_a_member_is_pushed_only_what_rls_lets_it_read(
        realtime: RealtimeStandin, open_client: Open, member: Any) -> None:
    user_id = member({"exec-a": "client"})
    service, user = open_client(), open_client(user_token(user_id))
    sources = {name: source_of(c) for name, c in (("b", user), ("all", user), ("service", service))}
    streams = {"b": follow(user.watch(executor_id="exec-b", poll_interval=POLL, source=sources["b"])),
               "all": follow(user.watch(poll_interval=POLL, source=sources["all"])),
               "service": follow(service.watch(executor_id="exec-b", poll_interval=POLL, source=sources["service"]))}
    await eventually(lambda: all(s.subscriptions == 1 for s in sources.values()))
    b_job = (await service.assign("t.b", executor_id="exec-b")).job_id
    a_job = (await service.assign("t.a", executor_id="exec-a")).job_id
    await eventually(lambda: len(streams["service"][0]) == 1 and len(streams["all"][0]) == 1)
    await asyncio.sleep(0.3)  # anything else would have arrived by now
    for _, task in streams.values():
        task.cancel()
    assert [e.job_id for e in streams["service"][0]] == [b_job]
    assert [e.job_id for e in streams["all"][0]] == [a_job] and streams["b"][0] == []
    to_user = [m.payload["job_id"] for m in realtime.pushed if m.claims.get("sub") == str(user_id)]
    assert to_user == [str(a_job)]  # exec-b's row was never sent to the member
    assert (sources["b"].changes, sources["all"].changes, sources["service"].changes) == (0, 1, 1)


async def test_pushes_for_other_rows_or_malformed_ones_wake_nothing(
        realtime: RealtimeStandin, open_client: Open) -> None:
    client = open_client()
    job_id = (await client.assign("t.rt", executor_id="ex")).job_id
    source = source_of(client)
    seen, watcher = follow(client.watch_job(job_id, poll_interval=POLL, source=source))
    await eventually(lambda: len(seen) == 1 and source.subscriptions == 1)
    assert source.channel is not None
    topic = source.channel.topic.removeprefix("realtime:")
    ids = [source.channel.postgres_changes_callbacks[0].id]  # the id the server gave the binding
    data = {"schema": "collab", "table": "job_events", "type": "INSERT", "commit_timestamp": "now",
            "columns": [], "errors": None}
    bad = [{"ids": ids, "data": {**data, "record": {"seq": 99, "job_id": str(uuid4()), "executor_id": "ex"}}},
           {"ids": ids, "data": {**data, "record": None}},
           {"ids": ids, "data": {**data, "record": {"seq": "x", "job_id": str(job_id)}}},
           {"ids": ids, "data": {**data, "table": "jobs", "record": {"seq": 9, "job_id": str(job_id)}}},
           {"ids": ids, "data": "not an object"}, ["not", "an", "object"]]
    for payload in bad:
        assert await realtime.inject(topic, "postgres_changes", payload) == 1
    await eventually(lambda: source.ignored == 4)  # the last two never pass realtime-py's parser
    changes = source.changes  # 0, or 1 if the queued row was pushed after the join
    await client.cancel(job_id)  # a real change still wakes it, on the same channel
    await asyncio.wait_for(watcher, timeout=5)
    assert [e.event_type for e in seen] == ["queued", "cancelled"]
    assert (source.changes - changes, source.subscriptions) == (1, 1)


async def test_a_worker_publishes_presence_and_its_jobs_broadcasts(
        realtime: RealtimeStandin, open_client: Open) -> None:
    worker = Worker(open_client(), executor_id="ex", poll_interval=0.2, heartbeat_interval=0.3,
                    version="1.2.3", concurrency=2)

    @worker.task("t.work")
    async def work(job: Job, ctx: JobContext) -> dict[str, bool]:
        await ctx.progress(50, stage="half")
        return {"ok": True}

    running = asyncio.create_task(worker.run_async())
    try:
        await _worker_publishes(worker, realtime, open_client)
    finally:
        worker.request_stop()
        assert await asyncio.wait_for(running, 10) == 0
    agent = f"agents:{worker.worker_id}"
    assert [m.event for m in realtime.on("system:events")] == ["agent.started", "agent.stopped"]
    assert realtime.tracks[-1].payload["status"] == "stopped"
    # a heartbeat every 0.3 s, but presence paced at one track per 10 s: the first, then
    # the changes since (running, idle again, stopped) coalesced into the last, sent on close
    assert [t.payload["status"] for t in realtime.tracks if t.topic == agent] == ["idle", "stopped"]
    assert realtime.presence_state(agent) == {} and not realtime._sockets  # left, socket closed
    assert worker.presence is not None and worker.presence.publisher.failed == 0


async def test_presence_is_tracked_on_change_only_and_paced(realtime: RealtimeStandin,
                                                            open_client: Open) -> None:
    transport = open_client().transport
    assert isinstance(transport, SupabaseTransport)
    presence = WorkerPresence(transport.session, agent_id="a1", executor_id="ex", track_interval=0.8)
    presence.start()

    def beat(running: int = 0, status: str = "idle") -> None:
        presence.heartbeat(status=status, running=running, capacity=10, stats={})

    def statuses() -> list[Any]:
        return [m for m in realtime.on("agents:a1") if m.event == "agent.status"]

    try:
        for _ in range(20):  # unchanged state: one track, yet every heartbeat broadcasts
            beat()
            await asyncio.sleep(0.02)
        await eventually(lambda: len(statuses()) == 20)
        assert len(realtime.tracks) == 1 and realtime.tracks[0].payload["running"] == 0
        await asyncio.sleep(0.8)  # past the interval: the next change is tracked at once ...
        for running in range(1, 11):  # ... and the rest of the burst coalesced into one more
            beat(running)
        await eventually(lambda: len(realtime.tracks) == 2)
        assert realtime.tracks[1].payload["running"] == 1
        await eventually(lambda: len(realtime.tracks) == 3, timeout=3)
        assert realtime.tracks[2].payload["running"] == 10  # the latest state won
        [(_, [state])] = realtime.presence_state("agents:a1").items()
        assert state["running"] == 10
        beat(10)
        await asyncio.sleep(0.3)
        assert len(realtime.tracks) == 3  # no change, no track
        beat(0, "stopped")  # inside the interval: paced, then sent at once by the close
    finally:
        await presence.aclose()
    assert [t.payload["status"] for t in realtime.tracks] == ["idle", "idle", "idle", "stopped"]
    assert len(statuses()) == 32 and presence.publisher.failed == 0  # 20 + 10 + 1 + 1


async def _worker_publishes(worker: Worker, realtime: RealtimeStandin, open_client: Open) -> None:
    agent = f"agents:{worker.worker_id}"
    await eventually(lambda: realtime.presence_state(agent) != {})
    [(key, [state])] = realtime.presence_state(agent).items()
    assert key == worker.worker_id and tuple(state) == PRESENCE_FIELDS
    assert {k: v for k, v in state.items() if k != "lastSeenAt"} == {
        "agentId": worker.worker_id, "executorId": "ex", "status": "idle", "version": "1.2.3",
        "running": 0, "capacity": 2}
    [beat] = await open_client().workers_active(executor_id="ex")
    assert datetime.fromisoformat(state["lastSeenAt"]) <= beat.last_seen_at  # the row's own value

    job_id = (await worker.client.assign("t.work", executor_id="ex", payload={"n": 1})).job_id
    topic = f"jobs:{job_id}"
    await eventually(lambda: [m.event for m in realtime.on(topic)][-1:] == ["job.succeeded"])
    claimed, started, progress, succeeded = realtime.on(topic)
    assert [m.event for m in (claimed, started, progress, succeeded)] == [
        "job.claimed", "job.started", "job.progress", "job.succeeded"]
    assert claimed.payload["jobId"] == str(job_id) and claimed.payload["agentId"] == worker.worker_id
    assert (claimed.payload["executorId"], claimed.payload["type"], claimed.payload["attempt"]) == ("ex", "t.work", 1)
    assert progress.payload["payload"] == {"stage": "half", "value": 50, "attempt": 1, "worker_id": worker.worker_id}
    assert succeeded.payload["outcome"] == "succeeded"
    assert [j.topic for j in realtime.joins].count(topic) == 1
    await eventually(lambda: realtime.joined(topic) == 0)  # left after the job settled
    assert {m.event for m in realtime.on(agent)} == {"agent.status", "worker.metrics"}
    metrics = lambda: [m.payload for m in realtime.on(agent) if m.event == "worker.metrics"]  # noqa: E731
    await eventually(lambda: metrics()[-1]["stats"].get("succeeded") == 1)
    assert metrics()[-1]["capacity"] == 2 and metrics()[-1]["stats"]["claimed"] == 1



async def test_realtime_down_never_stops_a_worker(realtime: RealtimeStandin, open_client: Open,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    await realtime.drop_connections(refuse_for=60)
    worker = Worker(open_client(), executor_id="ex", poll_interval=0.2, heartbeat_interval=0.2)
    worker.task("t.work")(_succeed)
    started = time.monotonic()
    running = asyncio.create_task(worker.run_async())
    try:
        ids = [(await worker.client.assign("t.work", executor_id="ex")).job_id for _ in range(3)]
        await eventually(lambda: worker.stats.get("succeeded") == 3)
        await eventually(lambda: worker.presence is not None and worker.presence.publisher.failed >= 1)
    finally:
        worker.request_stop()
        assert await asyncio.wait_for(running, 10) == 0
    assert worker.presence is not None and worker.presence.publisher.failed >= 1
    assert not realtime.joins
    assert [(await worker.client.get_job(i)).status.value for i in ids] == ["succeeded"] * 3
    warnings = [r for r in caplog.records if r.name == "collab.worker" and "Realtime" in r.getMessage()]
    assert 1 <= len(warnings) <= time.monotonic() - started + 1  # about once a second at most


async def _succeed(job: Job, ctx: JobContext) -> None:
    await ctx.progress(1)
