"""The worker of the live workflow API tests (``collab worker v1_worker_app:worker``):
executor ``default`` (the service role's), step type ``t.echo`` that sleeps
``config.seconds`` (default 0.1) and answers its step id and its predecessors' outputs."""

from __future__ import annotations

import asyncio
from typing import Any

from collab_sdk import AsyncCollabClient
from collab_sdk.worker.context import JobContext
from collab_sdk.worker.loop import Worker
from collab_sdk.worker.steps import Step


def worker() -> Worker:
    app = Worker(AsyncCollabClient.from_env(), executor_id="default", concurrency=4,
                 poll_interval=0.2, heartbeat_interval=0.5, drain_timeout=5)

    @app.step("t.echo", title="Echo", description="sleeps config.seconds, answers its step id")
    async def echo(step: Step[dict[str, Any], dict[str, Any]], ctx: JobContext) -> dict[str, Any]:
        await asyncio.sleep(float(step.config.get("seconds", 0.1)))
        return {"step": step.step_id, "after": sorted(step.steps)}

    return app
