"""Private Realtime channels for real: a worker that is a *member* (publishable key and
a user token) joins its channels with that token, and the Realtime stand-in admits each
join and write by the policies collab's migrations put on realtime.messages, as
Realtime Authorization does. Workers are woken by the database's own ``jobs.claimable``
broadcasts (``realtime.send``) and poll only as a backstop."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from realtime import RealtimeSubscribeStates

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.models import Job
from collab_sdk.transports.base import WakesClaims
from collab_sdk.transports.supabase.realtime import RealtimeClaimWaker, channel_options
from collab_sdk.transports.supabase.rpc import SupabaseTransport
from collab_sdk.worker.capabilities import POLL_INTERVAL, WOKEN_POLL_INTERVAL
from collab_sdk.worker.context import JobContext
from collab_sdk.worker.loop import Worker
from support.postgrest_standin import PUBLISHABLE_KEY, user_token
from realtime_standin import RealtimeStandin
from test_realtime import Open, db_url, eventually, open_client, realtime
from support.supabase import supabase_db_url, supabase_template_db

pytestmark = pytest.mark.filterwarnings("ignore:ConnectionClosed:DeprecationWarning")  # realtime-py's
__all__ = ["db_url", "open_client", "realtime", "supabase_db_url", "supabase_template_db"]  # fixtures


async def subscribe(client: AsyncCollabClient, topic: str) -> tuple[list[Any], list[RealtimeSubscribeStates]]:
    """Join the private channel ``topic`` as ``client``'s caller: its broadcasts, its states."""
    assert isinstance(client.transport, SupabaseTransport)
    realtime = await client.transport.session.realtime()
    seen: list[Any] = []
    states: list[RealtimeSubscribeStates] = []
    channel = realtime.channel(topic, channel_options())
    channel.on_broadcast("*", seen.append)
    await channel.subscribe(lambda state, _error: states.append(state))
    await eventually(lambda: bool(states))
    return seen, states


def start(worker: Worker) -> asyncio.Task[Any]:
    return asyncio.create_task(worker.run_async())


async def stop(worker: Worker, running: asyncio.Task[Any]) -> None:
    worker.request_stop()
    assert await asyncio.wait_for(running, 10) == 0


async def test_a_member_worker_publishes_on_private_channels_with_its_token(
        realtime: RealtimeStandin, open_client: Open, member: Any) -> None:
    token = user_token(member({"ex": "worker"}))
    watcher_id = member({"ex": "client"})
    service, watcher = open_client(), open_client(user_token(watcher_id))
    worker = Worker(open_client(token), executor_id="ex", heartbeat_interval=0.3, concurrency=2)
    release = asyncio.Event()

    @worker.task("t.private")
    async def work(job: Job, ctx: JobContext) -> dict[str, bool]:
        await ctx.progress(50)
        await release.wait()  # the job runs while the test watches
        return {"ok": True}

    running = start(worker)
    try:
        agent = f"agents:{worker.worker_id}"
        await eventually(lambda: realtime.presence_state(agent) != {})
        job_id = (await service.assign("t.private", executor_id="ex")).job_id
        topic = f"jobs:{job_id}"
        await eventually(lambda: [m.event for m in realtime.on(topic)] == ["job.claimed", "job.started", "job.progress"])
        seen, states = await subscribe(watcher, topic)  # a client member reads the job's channel
        assert states == [RealtimeSubscribeStates.SUBSCRIBED]
        release.set()
        await eventually(lambda: [m["event"] for m in seen] == ["job.succeeded"])  # sent after its complete
        assert seen[0]["payload"]["jobId"] == str(job_id)
    finally:
        await stop(worker, running)
    mine = [j for j in realtime.joins if j.payload["access_token"] == token]
    assert {j.topic for j in mine} == {agent, topic, "queue:ex"}
    assert all(j.payload["config"]["private"] is True and j.role == "authenticated" for j in mine)
    assert realtime.dropped == [] and realtime.refused == []
    assert realtime.on("system:events") == []  # the service role's topic: a member does not try
    assert worker.presence is not None and worker.presence.publisher.failed == 0


async def test_strangers_and_anon_are_refused_and_a_members_forgery_is_dropped(
        realtime: RealtimeStandin, open_client: Open, member: Any) -> None:
    service = open_client()
    job_id = (await service.assign("t.private", executor_id="ex")).job_id
    assert await service.claim("ex", "w1") is not None
    topic = f"jobs:{job_id}"
    client_member = open_client(user_token(member({"ex": "client"})))
    stranger = open_client(user_token(member({"other": "worker"})))
    anon = AsyncCollabClient(SupabaseTransport(realtime.url, PUBLISHABLE_KEY))
    try:
        for caller in (stranger, anon):
            _, states = await subscribe(caller, topic)
            assert states[0] is RealtimeSubscribeStates.CHANNEL_ERROR
        assert [t for t, _ in realtime.refused] == [topic, topic]
        assert all(reason.startswith("Unauthorized: You do not have permissions to read") for _, reason in realtime.refused)
        # A worker of exec "ex" reads; the client member joins but cannot write.
        listener = open_client(user_token(member({"ex": "worker"})))
        heard, _ = await subscribe(listener, topic)
        await subscribe(client_member, topic)
        assert isinstance(client_member.transport, SupabaseTransport)
        channel = next(c for c in (await client_member.transport.session.realtime()).get_channels()
                       if c.topic == f"realtime:{topic}")
        await channel.send_broadcast("job.succeeded", {"jobId": str(job_id), "forged": True})
        await eventually(lambda: len(realtime.dropped) == 1)
        await asyncio.sleep(0.2)
        assert heard == [] and realtime.on(topic) == []
        # Wake-ups are for the executor's workers only.
        _, states = await subscribe(client_member, "queue:ex")
        assert states[0] is RealtimeSubscribeStates.CHANNEL_ERROR
    finally:
        await anon.aclose()


async def test_an_idle_worker_is_woken_by_the_databases_broadcast(
        realtime: RealtimeStandin, open_client: Open, member: Any) -> None:
    service = open_client()
    worker = Worker(open_client(user_token(member({"ex": "worker"}))), executor_id="ex", realtime=False)
    assert isinstance(worker.client.transport, WakesClaims)
    assert worker.poll_interval == WOKEN_POLL_INTERVAL  # polling is only the backstop
    assert isinstance(worker.listener, RealtimeClaimWaker)
    started: list[float] = []
    worker.task("t.wake")(lambda job, ctx: started.append(time.monotonic()))
    running = start(worker)
    try:
        await asyncio.wait_for(worker.listener.connected.wait(), 10)
        await asyncio.sleep(0.2)  # idle: the first claims are done
        for n in range(3):
            sent = time.monotonic()
            await service.assign("t.wake", executor_id="ex")
            await eventually(lambda: len(started) == n + 1, timeout=5)
            assert started[-1] - sent < 1.0  # not the 30 s poll
        await service.assign("t.wake", executor_id="other")  # another executor's wakes nobody here
        await asyncio.sleep(0.3)
        polls = worker.stats.get("polls", 0)  # (stopping ends a wait, which counts as one)
    finally:
        await stop(worker, running)
    assert worker.listener.wakeups == 3 and worker.listener.ignored == 0
    assert polls == 0
    broadcasts = [m for m in realtime.broadcasts if m.topic == "queue:ex"]
    assert len(broadcasts) == 3 and {m.event for m in broadcasts} == {"jobs.claimable"}


async def test_while_realtime_is_down_the_backstop_polls(realtime: RealtimeStandin, open_client: Open) -> None:
    await realtime.drop_connections(refuse_for=60)
    worker = Worker(open_client(), executor_id="ex", realtime=False)
    assert isinstance(worker.listener, RealtimeClaimWaker) and worker.poll_interval == WOKEN_POLL_INTERVAL
    started: list[float] = []
    worker.task("t.wake")(lambda job, ctx: started.append(time.monotonic()))
    running = start(worker)
    try:
        await asyncio.sleep(0.3)
        sent = time.monotonic()
        await worker.client.assign("t.wake", executor_id="ex")
        await eventually(lambda: len(started) == 1, timeout=POLL_INTERVAL + 3)
        assert started[0] - sent <= POLL_INTERVAL + 1.0
    finally:
        await stop(worker, running)
    assert not worker.listener.connected.is_set() and worker.listener.wakeups == 0


def test_an_explicit_poll_interval_is_kept() -> None:
    worker = Worker(AsyncCollabClient(SupabaseTransport("http://x", "sb_secret_x")), executor_id="ex",
                    poll_interval=0.5)
    assert worker.poll_interval == 0.5


