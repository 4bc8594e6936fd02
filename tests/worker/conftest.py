"""Worker tests: in-process workers over real PostgreSQL, and worker processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from collab_sdk import AsyncCollabClient
from collab_sdk.worker.loop import Worker


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


