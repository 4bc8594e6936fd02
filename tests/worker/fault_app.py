"""A worker module for the fault-isolation tests, configured by environment variables:
``APP_CONCURRENCY``, ``APP_LEASE``, ``APP_DRAIN``, ``APP_ISOLATION`` (``process`` runs every
handler in a child), ``APP_TIMEOUT`` (of ``hang``), ``APP_MAX_ABANDONED``.

Types: ``app.work`` (async, returns its pid), ``app.poison`` (``os._exit(3)``: kills
whatever process runs it), ``app.hang`` (sync, ignores ``ctx.cancelled`` for a minute),
``app.sync`` (sync, returns its pid). Handlers are module-level so a child process can
import them."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from collab_sdk import AsyncCollabClient, Job
from collab_sdk.worker.context import JobContext, SyncJobContext
from collab_sdk.worker.loop import Worker


async def work(job: Job, ctx: JobContext) -> dict[str, Any]:
    await asyncio.sleep(float(job.payload.get("sleep", 0.05)))
    await ctx.progress(100)
    return {"pid": os.getpid()}


def poison(job: Job, ctx: SyncJobContext) -> None:
    os._exit(3)


def hang(job: Job, ctx: SyncJobContext) -> None:
    time.sleep(60)  # ignores ctx.cancelled, as the worst handlers do


def sync(job: Job, ctx: SyncJobContext) -> dict[str, Any]:
    return {"pid": os.getpid()}


def worker() -> Worker:
    app = Worker(AsyncCollabClient.from_env(), executor_id="ex",
                 concurrency=int(os.environ.get("APP_CONCURRENCY", "4")),
                 lease_seconds=int(os.environ.get("APP_LEASE", "30")), poll_interval=0.2,
                 heartbeat_interval=0.5, drain_timeout=float(os.environ.get("APP_DRAIN", "10")),
                 max_abandoned_threads=int(os.environ.get("APP_MAX_ABANDONED", "0")) or None)
    isolation = os.environ.get("APP_ISOLATION") or None
    timeout = float(os.environ.get("APP_TIMEOUT", "0")) or None
    app.task("app.work", isolation=isolation)(work)
    app.task("app.poison", isolation=isolation)(poison)
    app.task("app.hang", isolation=isolation, timeout=timeout)(hang)
    app.task("app.sync", isolation=isolation)(sync)
    return app
