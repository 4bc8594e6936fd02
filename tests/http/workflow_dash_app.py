"""The worker of the dashboard's Workflows browser tests, on executor ``default``:
``wf.work`` sleeps ``config.seconds`` (default 0.5) and answers its step id; ``wf.flaky``
fails while the file ``WF_FAIL_FLAG`` exists and succeeds once it is gone (a run failed
by it is retried from that step)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from collab_sdk import AsyncCollabClient
from collab_sdk.worker.context import JobContext
from collab_sdk.worker.loop import Worker
from collab_sdk.worker.steps import Step


def worker() -> Worker:
    app = Worker(AsyncCollabClient.from_env(), executor_id="default", name="wf-worker", concurrency=4,
                 poll_interval=0.2, heartbeat_interval=0.5, drain_timeout=2)

    @app.step("wf.work", title="Work", description="sleeps config.seconds")
    async def work(step: Step[dict[str, Any], dict[str, Any]], ctx: JobContext) -> dict[str, Any]:
        await asyncio.sleep(float(step.config.get("seconds", 0.5)))
        return {"step": step.step_id}

    @app.step("wf.flaky", title="Flaky", description="fails while WF_FAIL_FLAG exists")
    async def flaky(step: Step[dict[str, Any], dict[str, Any]], ctx: JobContext) -> dict[str, Any]:
        await asyncio.sleep(0.3)
        flag = os.environ.get("WF_FAIL_FLAG")
        if flag and Path(flag).exists():
            raise RuntimeError("flaky failed on purpose")
        return {"approved_by": step.steps.get("gate", {}).get("by")}

    return app
