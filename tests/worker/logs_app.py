"""A worker for the log tests: ``log.ok`` succeeds, ``log.boom`` raises (its message
carries the token of ``APP_TOKEN`` and the database URL, which no log line may show),
``log.hold`` runs until its lease is taken away, ``log.sync`` sleeps in a sync handler
(``payload.sleep``). Blocking client when ``APP_BLOCKING=1``."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from collab_sdk import AsyncCollabClient, CollabClient, Job
from collab_sdk.worker.context import JobContext
from collab_sdk.worker.loop import Worker


def worker() -> Worker:
    client: AsyncCollabClient | CollabClient = (
        CollabClient.from_env() if os.environ.get("APP_BLOCKING") == "1" else AsyncCollabClient.from_env())
    app = Worker(client, executor_id="ex", poll_interval=0.2, heartbeat_interval=0.5,
                 lease_seconds=int(os.environ.get("APP_LEASE", "30")), drain_timeout=30)

    @app.task("log.ok")
    async def ok(job: Job, ctx: JobContext) -> dict[str, Any]:
        return {"ok": True}

    @app.task("log.boom")
    async def boom(job: Job, ctx: JobContext) -> None:
        _deep(os.environ["APP_TOKEN"], os.environ["COLLAB_DATABASE_URL"])

    @app.task("log.hold")
    async def hold(job: Job, ctx: JobContext) -> None:
        await asyncio.sleep(60)

    @app.task("log.sync")
    def sync(job: Job, ctx: Any) -> dict[str, Any]:
        time.sleep(float(job.payload.get("sleep", 0)))
        return {"slept": job.payload.get("sleep", 0)}

    return app


def _deep(token: str, url: str) -> None:
    raise RuntimeError(f"upstream refused Bearer {token} (db {url}, key {os.environ['APP_KEY']})")
