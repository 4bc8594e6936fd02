"""The claim loop's lane: its claims keep one database backend (``transports.lanes``).

Each worker's connections are named (``application_name``) so that ``pg_stat_activity``
shows which backend ran its claims; the claim's text stays that backend's ``query``
until it runs something else, and nothing but the claim loop calls
``complete_and_claim_jobs_v1``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from collab_sdk import AsyncCollabClient, Job
from collab_sdk.worker.context import JobContext
from collab_sdk.worker.loop import Worker
from support import Caller
from support.processes import LoggedProcess

CLAIM = "%complete_and_claim_jobs_v1%"
CLAIMING = ("select pid from pg_stat_activity where application_name = %s and query like %s"
            " and pid <> pg_backend_pid()")


def _named(url: str, name: str) -> str:
    """``url`` with its connections named ``name`` (a URL still: the CLI wants one)."""
    return f"{url}{'&' if '?' in url else '?'}application_name={name}"


def _assign(owner: Caller, n: int, sleep: float = 0.0) -> None:
    owner.rpc("assign_jobs_v1", jobs=[{"type": "app.work", "executor_id": "ex", "payload": {"sleep": sleep}}
                                      for _ in range(n)])


def _count(owner: Caller, query: str) -> int:
    return int(owner.sql(query)[0]["n"])


def _succeeded(owner: Caller) -> int:
    return _count(owner, "select count(*)::int as n from collab.jobs where status = 'succeeded'")


def _doubles(owner: Caller) -> list[dict[str, Any]]:
    return owner.sql("select job_id from collab.job_events where event_type = 'succeeded'"
                     " group by job_id having count(*) > 1")


async def _worker(url: str, pool: int, **options: Any) -> tuple[Worker, asyncio.Task[int]]:
    worker = Worker(AsyncCollabClient.from_url(url, max_size=pool), executor_id="ex",
                    **{"concurrency": 8, "poll_interval": 0.2, "heartbeat_interval": 0.05, **options})

    @worker.task(prefix="app.")
    async def work(job: Job, ctx: JobContext) -> None:
        await asyncio.sleep(float(job.payload.get("sleep", 0)))

    return worker, asyncio.create_task(worker.run_async())


async def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


async def test_the_claim_loop_keeps_one_backend(db_url: str, owner: Caller) -> None:
    name = "lane-one-backend"
    url = _named(db_url, name)
    _assign(owner, 400, sleep=0.002)
    claimers: set[int] = set()
    backends = 0
    worker, task = await _worker(url, pool=4)
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as watch:
        def drained() -> bool:
            return _succeeded(owner) >= 400

        deadline = time.monotonic() + 60
        while not drained():
            assert time.monotonic() < deadline, f"{_succeeded(owner)} of 400 after 60 s"
            rows = await (await watch.execute(CLAIMING, (name, CLAIM))).fetchall()
            claimers.update(row[0] for row in rows)
            row = await (await watch.execute(
                "select count(*) from pg_stat_activity where application_name = %s", (name,))).fetchone()
            backends = max(backends, row[0] if row else 0)
    worker.request_stop()
    assert await asyncio.wait_for(task, timeout=30) == 0
    await worker.client.aclose()
    # The pool grew (heartbeats and completions beside the claims), yet one backend claimed.
    assert backends >= 2
    assert len(claimers) == 1, claimers
    assert _doubles(owner) == []


@pytest.mark.parametrize("pool", [1, 2])
async def test_a_small_pool_drains_without_deadlock(db_url: str, owner: Caller, pool: int) -> None:
    """The lane holds one connection for the loop's life; the rest of the worker (a
    completion batch, heartbeats every 50 ms, lease extensions) shares what is left — none
    on a pool of one, where the lane lends per call instead."""
    _assign(owner, 200, sleep=0.005)
    worker, task = await _worker(db_url, pool=pool, concurrency=4, lease_seconds=2)
    await _until(lambda: _succeeded(owner) >= 200, 60, f"pool of {pool}: stuck")
    worker.request_stop()
    assert await asyncio.wait_for(task, timeout=30) == 0
    await worker.client.aclose()
    assert _doubles(owner) == []
    assert worker.stats.get("claim_errors", 0) == 0


def test_a_killed_lane_backend_mid_drain(db_url: str, owner: Caller,
                                         spawn: Callable[..., LoggedProcess]) -> None:
    """Two worker processes; their claim backends are terminated twice mid-drain. Each
    worker takes a new connection and every job succeeds exactly once (a claim whose
    answer was lost with its backend leaves jobs leased to the worker: they come back
    when the short lease expires)."""
    name = "lane-kill"
    url = _named(db_url, name)
    _assign(owner, 600, sleep=0.002)
    procs = [spawn(COLLAB_DATABASE_URL=url, APP_CONCURRENCY="8", APP_LEASE="3") for _ in range(2)]
    killed: set[int] = set()
    with psycopg.connect(db_url, autocommit=True) as conn:
        for at in (100, 300):
            deadline = time.monotonic() + 60
            while _succeeded(owner) < at:
                assert time.monotonic() < deadline, f"{_succeeded(owner)} succeeded, waiting for {at}"
                time.sleep(0.02)
            pids = [row[0] for row in conn.execute(CLAIMING, (name, CLAIM)).fetchall()]
            assert pids, "no claim backend found"
            for pid in pids:
                conn.execute("select pg_terminate_backend(%s)", (pid,))
            killed.update(pids)
        deadline = time.monotonic() + 90
        while _succeeded(owner) < 600:
            assert time.monotonic() < deadline, f"only {_succeeded(owner)} of 600 after the kills"
            time.sleep(0.1)
        now = {row[0] for row in conn.execute(CLAIMING, (name, CLAIM)).fetchall()}
    assert now and not now & killed  # the claims went on over new connections
    assert _doubles(owner) == []
    assert [proc.stop(graceful=True, timeout=30) for proc in procs] == [0, 0]
