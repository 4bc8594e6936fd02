"""Worker tests: in-process workers over real PostgreSQL, and worker processes."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from collab_sdk import AsyncCollabClient
from collab_sdk.worker.loop import Worker
from support.processes import LoggedProcess

#: Where ``worker_app.py`` lives (the processes' working directory).
HERE = Path(__file__).resolve().parent


@pytest.fixture
async def service(db_url: str) -> AsyncIterator[AsyncCollabClient]:
    """A trusted async client for setting up and checking jobs."""
    client = AsyncCollabClient.from_url(db_url, max_size=4)
    yield client
    await client.aclose()


@pytest.fixture
async def start_worker(db_url: str) -> AsyncIterator[Callable[..., Awaitable[Worker]]]:
    """``worker = await start_worker(register, concurrency=4, ...)``: a running worker
    (its own client and pool) with handlers added by ``register(worker)``; stopped after."""
    running: list[tuple[Worker, asyncio.Task[int], AsyncCollabClient]] = []

    async def start(register: Callable[[Worker], Any], **options: Any) -> Worker:
        client = AsyncCollabClient.from_url(db_url, max_size=options.pop("pool", 6))
        options = {"executor_id": "ex", "poll_interval": 0.5, "heartbeat_interval": 1.0, **options}
        worker = Worker(client, **options)
        register(worker)
        running.append((worker, asyncio.create_task(worker.run_async()), client))
        return worker

    yield start
    for worker, task, client in running:
        worker.request_stop()
        await asyncio.wait_for(task, timeout=30)
        await client.aclose()


@pytest.fixture
def spawn(db_url: str, tmp_path: Path) -> Iterator[Callable[..., LoggedProcess]]:
    """``spawn(APP_SLEEP="1", ...)``: a ``collab worker worker_app:worker`` process
    (``app="fault_app:worker"`` for another worker module of this directory); its output
    is ``proc.output()``."""
    procs: list[LoggedProcess] = []

    def start(app: str = "worker_app:worker", **env: str) -> LoggedProcess:
        full_env = {**os.environ, "COLLAB_DATABASE_URL": db_url, **env}
        proc = LoggedProcess([sys.executable, "-m", "collab_sdk.cli", "worker", app],
                             tmp_path / f"worker-{len(procs)}.log", cwd=HERE, env=full_env)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.stop(timeout=10)
