"""Behind a real pgbouncer in transaction mode: the SDK, a worker and a watch stream work,
nothing LISTENs or holds a session advisory lock on a pooled connection (the log says
wake-ups are polled), no statement is prepared, and with ``listen_url`` (a direct URL)
wake-ups come through LISTEN again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from collab_sdk import AsyncCollabClient, Job, Worker
from collab_sdk.transports.listen import EVENTS_LISTENER_LOCK
from collab_sdk.transports.postgres import PostgresTransport, pooler_mode
from support import Caller, eventually
from support.pooler import pgbouncer


@pytest.fixture
def pooled_url(db_url: str) -> Iterator[str]:
    """A URL of this test's database through pgbouncer (pool_mode = transaction)."""
    with pgbouncer(db_url) as url:
        yield url


def test_the_pooler_is_named_or_detected_by_its_port() -> None:
    assert pooler_mode("postgresql://u@db.x.supabase.co:6543/postgres", env={}) == "transaction"
    assert pooler_mode("postgresql://u@db.x.supabase.co:5432/postgres", env={}) is None
    assert pooler_mode("postgresql://u@h:5432/db", env={"COLLAB_POOLER": "transaction"}) == "transaction"
    assert pooler_mode("postgresql://u@h:6543/db", env={"COLLAB_POOLER": "session"}) is None


def _advisory_holders(owner: Caller) -> int:
    rows = owner.sql("select count(*) as n from pg_locks where locktype = 'advisory' "
                     "and ((classid::bigint << 32) | objid::bigint) = %s", (EVENTS_LISTENER_LOCK,))
    return int(rows[0]["n"])


async def test_sdk_worker_and_stream_through_a_transaction_pooler(
        pooled_url: str, owner: Caller, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="collab.transport")
    transport = PostgresTransport(pooled_url, pooler="transaction", listen_url=None, max_size=4)
    assert not transport.can_listen and transport.live_source() is None
    assert not transport.prepares  # a prepared statement would stay on a lent server connection
    assert any("transaction-mode pooler" in r.getMessage() and "poll" in r.getMessage()
               for r in caplog.records)
    done: list[str] = []
    async with AsyncCollabClient(transport) as client:
        worker = Worker(client, executor_id="ex", poll_interval=0.2, heartbeat_interval=1.0,
                        realtime=False, fire_schedules=False)

        @worker.task("t.pooled")
        async def handle(job: Job, ctx: Any) -> dict[str, bool]:
            done.append(str(job.id))
            return {"ok": True}

        assert worker.listener is None  # polled, never a LISTEN on a pooled connection
        running = asyncio.create_task(worker.run_async())
        stream = client.watch_job((await client.assign("t.pooled", executor_id="ex")).job_id,
                                  poll_interval=0.2)
        seen = [event.event_type async for event in stream]
        assert seen[-1] == "succeeded"
        await client.assign_many([{"type": "t.pooled", "executor_id": "ex"} for _ in range(30)])
        await eventually(lambda: len(done) == 31, timeout=30)
        worker.request_stop()
        assert await asyncio.wait_for(running, 30) == 0
    assert _advisory_holders(owner) == 0
    log = "\n".join(r.getMessage() for r in caplog.records)
    assert "prepared statement" not in log


async def test_wake_ups_come_through_listen_url(pooled_url: str, db_url: str, owner: Caller) -> None:
    transport = PostgresTransport(pooled_url, pooler="transaction", listen_url=db_url, max_size=4)
    assert transport.can_listen
    started: list[float] = []
    async with AsyncCollabClient(transport) as client:
        worker = Worker(client, executor_id="ex", poll_interval=30.0, heartbeat_interval=5.0,
                        realtime=False, fire_schedules=False)

        @worker.task("t.woken")
        async def handle(job: Job, ctx: Any) -> None:
            started.append(time.monotonic())

        assert worker.listener is not None
        running = asyncio.create_task(worker.run_async())
        await eventually(lambda: worker.listener is not None and worker.listener.connected.is_set(), timeout=10)
        await asyncio.sleep(0.3)  # idle: the first claim has found nothing
        sent = time.monotonic()
        await client.assign("t.woken", executor_id="ex")
        await eventually(lambda: bool(started), timeout=10)
        worker.request_stop()
        await asyncio.wait_for(running, 30)
    assert started[0] - sent < 5.0, "woken by LISTEN, not by the 30 s poll"
    assert worker.stats.get("wakeups", 0) + getattr(worker.listener, "notifications", 0) >= 1
    assert _advisory_holders(owner) == 0
