"""The worker of the dashboard's browser tests, on the seed queue's executor (``default``):
``claude_extraction`` jobs sleep ``DASH_SLEEP`` seconds (default 1) and succeed, or fail
for good while the file ``DASH_FAIL_FLAG`` exists and the prompt says ``fail``."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from collab_sdk import AsyncCollabClient, Job
from collab_sdk.worker.context import JobContext
from collab_sdk.worker.loop import Worker


def worker() -> Worker:
    app = Worker(AsyncCollabClient.from_env(), executor_id="default", name="dash-worker",
                 concurrency=2, poll_interval=0.2, heartbeat_interval=0.5, drain_timeout=2)

    @app.task("claude_extraction")
    async def extract(job: Job, ctx: JobContext) -> dict[str, Any]:
        await asyncio.sleep(float(os.environ.get("DASH_SLEEP", "1")))
        flag = os.environ.get("DASH_FAIL_FLAG")
        if "fail" in str(job.payload.get("prompt")) and flag and Path(flag).exists():
            raise RuntimeError("extraction failed on purpose")
        return {"ok": True}

    return app
