"""Database faults: a crashed server, a killed LISTEN connection, an outage.

These use a server of their own (not the session's), since they stop and restart it."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from collab_sdk import AsyncCollabClient, Job
from collab_sdk.worker.context import JobContext
from collab_sdk.local.embedded import EmbeddedPostgres
from collab_sdk.local.migrate import migrate
from collab_sdk.transports.listen import APPLICATION_NAME
from collab_sdk.worker.loop import Worker
from support import Caller, eventually

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.slow


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "pg", settings={"max_connections": "100"})
    migrate(server.start())
    yield server
    server.stop("immediate")


def _succeeded(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from collab.jobs where status = 'succeeded'").fetchone()
        return int(row[0]) if row else 0


def test_crash_restart_mid_run_every_job_once(own_server: EmbeddedPostgres) -> None:
    url = own_server.url()
    owner = Caller(url)
    owner.rpc("assign_jobs_v1", jobs=[{"type": "app.work", "executor_id": "ex", "payload": {"sleep": 0.01}}
                                      for _ in range(400)])
    env = {**os.environ, "COLLAB_DATABASE_URL": url, "APP_CONCURRENCY": "4"}
    procs = [subprocess.Popen([sys.executable, "-m", "collab_sdk.cli.main", "worker", "worker_app:worker"],
                              cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while _succeeded(url) < 50:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        own_server.restart("immediate")
        deadline = time.monotonic() + 120
        while _succeeded(url) < 400:
            assert time.monotonic() < deadline, f"only {_succeeded(url)} of 400 after the crash"
            time.sleep(0.2)
        owner.close()  # its connection died with the server
        owner = Caller(url)
        doubles = owner.sql("select job_id from collab.job_events where event_type = 'succeeded'"
                            " group by job_id having count(*) > 1")
        assert doubles == []
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        assert [proc.wait(timeout=30) for proc in procs] == [0, 0]
    finally:
        owner.close()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


async def _start(url: str, **options: Any) -> tuple[Worker, asyncio.Task[int], asyncio.Event]:
    started = asyncio.Event()
    worker = Worker(AsyncCollabClient.from_url(url), executor_id="ex", heartbeat_interval=0.5, **options)

    @worker.task("ping")
    async def ping(job: Job, ctx: JobContext) -> None:
        started.set()

    return worker, asyncio.create_task(worker.run_async()), started


async def test_killed_listen_connection_comes_back(own_server: EmbeddedPostgres) -> None:
    url = own_server.url()
    worker, task, started = await _start(url, poll_interval=60)
    assert worker.listener is not None
    await asyncio.wait_for(worker.listener.connected.wait(), timeout=10)
    with psycopg.connect(url, autocommit=True) as conn:
        killed = conn.execute("select count(pg_terminate_backend(pid)) from pg_stat_activity"
                              " where application_name = %s", (APPLICATION_NAME,)).fetchone()
    assert killed and killed[0] == 1
    await eventually(lambda: _async(not worker.listener.connected.is_set()))  # type: ignore[union-attr]
    await asyncio.wait_for(worker.listener.connected.wait(), timeout=10)
    client = AsyncCollabClient.from_url(url)
    await client.assign("ping", executor_id="ex")
    await asyncio.wait_for(started.wait(), timeout=5)  # by LISTEN: the poll interval is 60 s
    worker.request_stop()
    assert await asyncio.wait_for(task, timeout=20) == 0
    await client.aclose()
    await worker.client.aclose()


async def _async(value: bool) -> bool:
    return value


async def test_outage_backs_off_and_logs_sparingly(own_server: EmbeddedPostgres,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    url, port = own_server.url(), own_server.port()
    worker, task, started = await _start(url, poll_interval=0.2)
    await asyncio.sleep(0.5)
    caplog.set_level(logging.WARNING, logger="collab.worker")
    own_server.stop("immediate")
    outage = 8.0
    await asyncio.sleep(outage)
    errors_during_outage = worker.stats.get("claim_errors", 0)
    lines = [r for r in caplog.records if r.name == "collab.worker"]
    own_server.start(port=port)
    assert errors_during_outage <= outage * 2, "claims backed off, no tight loop"
    assert len(lines) <= outage + 2, [r.getMessage() for r in lines]
    client = AsyncCollabClient.from_url(url)
    await client.assign("ping", executor_id="ex")
    await asyncio.wait_for(started.wait(), timeout=30)
    worker.request_stop()
    assert await asyncio.wait_for(task, timeout=30) == 0
    await client.aclose()
    await worker.client.aclose()
