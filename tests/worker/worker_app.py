"""A worker module for the process tests, configured by environment variables:
``APP_NAME``, ``APP_CONCURRENCY``, ``APP_LEASE``, ``APP_DRAIN``, ``APP_SLEEP`` (seconds each
handler sleeps unless the payload says ``sleep``), ``APP_POLL`` (the poll interval, default
0.2 s: a long one leaves wake-ups to LISTEN). It also handles the workflow step type
``wf.sleep`` (sleeps ``config.seconds``)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from collab_sdk import AsyncCollabClient, Job
from collab_sdk.worker.context import JobContext
from collab_sdk.worker.loop import Worker
from collab_sdk.worker.steps import Step


def worker() -> Worker:
    app = Worker(AsyncCollabClient.from_env(), executor_id="ex", name=os.environ.get("APP_NAME"),
                 concurrency=int(os.environ.get("APP_CONCURRENCY", "4")),
                 lease_seconds=int(os.environ.get("APP_LEASE", "30")),
                 poll_interval=float(os.environ.get("APP_POLL", "0.2")),
                 heartbeat_interval=0.5, drain_timeout=float(os.environ.get("APP_DRAIN", "10")))
    default_sleep = float(os.environ.get("APP_SLEEP", "0"))

    @app.step("wf.sleep", title="Sleep", description="sleeps config.seconds, then echoes the input")
    async def sleep_step(step: Step[dict[str, Any], dict[str, Any]], ctx: JobContext) -> dict[str, Any]:
        await asyncio.sleep(float(step.config.get("seconds", default_sleep)))
        return {"pid": os.getpid(), "steps": sorted(step.steps)}

    @app.task(prefix="app.")
    async def handle(job: Job, ctx: JobContext) -> dict[str, Any]:
        await asyncio.sleep(float(job.payload.get("sleep", default_sleep)))
        return {"pid": os.getpid(), "worker": ctx.worker_id}

    return app
