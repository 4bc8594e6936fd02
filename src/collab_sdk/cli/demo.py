"""``collab demo``: the queue end to end on a real Postgres, in a few seconds.

A worker with three handlers runs in this process; jobs are enqueued by running the
``collab assign`` command, and every event is printed as it is committed:

- ``demo.thumbnail`` reports progress, uploads an artifact and succeeds;
- ``demo.flaky`` fails on its first attempt and succeeds when retried;
- ``demo.doomed`` always fails, and dead-letters after its two attempts.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import sys
import uuid
from typing import Any
from uuid import UUID

import click
from pydantic import BaseModel

from collab_sdk.cli.base import command
from collab_sdk.cli import connect
from collab_sdk.cli.connect import async_client, database_url_option
from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.models import Job
from collab_sdk.states import FINAL_EVENT_TYPES
from collab_sdk.worker.context import JobContext
from collab_sdk.worker.loop import Worker
from collab_sdk.worker.tasks import Retry

__all__ = ["register", "cmd_demo", "run_demo", "demo_worker", "Thumbnail"]


def register(cli: click.Group) -> None:
    """Add ``collab demo``."""
    cli.add_command(cmd_demo)


@command("demo", help="run a worker, enqueue jobs with the CLI, print events live")
@database_url_option
def cmd_demo(database_url: str | None) -> int:
    """Run the demo against ``--database-url`` (else the environment's or the embedded
    database); its exit status."""
    url = connect.database_url(database_url)
    return run_demo(async_client(url), url)



class Thumbnail(BaseModel):
    """The payload of ``demo.thumbnail``."""

    image: str
    width: int = 128


def demo_worker(client: AsyncCollabClient, executor_id: str) -> Worker:
    """The demo's worker and its three handlers."""
    worker = Worker(client, executor_id=executor_id, name="demo", concurrency=4, poll_interval=0.5,
                    heartbeat_interval=1.0)

    @worker.task("demo.thumbnail")
    async def thumbnail(job: Job[Thumbnail], ctx: JobContext) -> dict[str, Any]:
        await ctx.progress(50, stage="resizing")
        data = f"thumbnail of {job.payload.image} at {job.payload.width}px\n".encode()
        artifact = await ctx.upload_artifact("thumb.txt", data)
        return {"artifact": artifact.path, "bytes": artifact.size}

    @worker.task("demo.flaky")
    async def flaky(job: Job, ctx: JobContext) -> str:
        if ctx.attempt == 1:
            raise Retry("the first attempt always fails", after=1)
        return f"worked on attempt {ctx.attempt}"

    @worker.task("demo.doomed")
    async def doomed(job: Job, ctx: JobContext) -> None:
        raise RuntimeError(f"doomed, attempt {ctx.attempt}")

    return worker


def _assign_with_cli(database_url: str, executor_id: str, type: str, payload: dict[str, Any],
                     *extra: str) -> UUID:
    args = ["assign", type, "--executor", executor_id, "--payload", json.dumps(payload), *extra]
    print("$ collab " + " ".join(shlex.quote(a) for a in args))
    result = subprocess.run([sys.executable, "-m", "collab_sdk.cli", *args, "--json",
                             "--database-url", database_url], capture_output=True, text=True, check=True)
    return UUID(json.loads(result.stdout)["jobId"])


async def _print_events(client: AsyncCollabClient, executor: str, since: int,
                        jobs: dict[UUID, str]) -> None:
    """Follow the executor's event stream (``client.watch``: in seq order, live) and print
    each event until every job has reached a final state."""
    final: set[UUID] = set()
    async with client.watch(executor_id=executor, since_seq=since) as events:
        async for event in events:
            detail = {k: v for k, v in event.payload.items() if k in ("attempt", "value", "stage")}
            if "error" in event.payload:  # a traceback's last line says what happened
                detail["error"] = str(event.payload["error"]).strip().splitlines()[-1]
            print(f"  #{event.seq:<5} {event.created_at:%H:%M:%S.%f}"[:-3] + f"  {jobs.get(event.job_id, '?'):<15} "
                  f"{event.event_type:<16} {json.dumps(detail) if detail else ''}", flush=True)
            if event.event_type in FINAL_EVENT_TYPES:
                final.add(event.job_id)
            if final >= jobs.keys():
                return


async def _run(client: AsyncCollabClient, database_url: str) -> int:
    executor = f"demo-{uuid.uuid4().hex[:6]}"
    worker = demo_worker(client, executor)
    running = asyncio.create_task(worker.run_async())
    since = await client.events_head()
    try:
        jobs = {
            _assign_with_cli(database_url, executor, "demo.thumbnail", {"image": "cat.png"}): "demo.thumbnail",
            _assign_with_cli(database_url, executor, "demo.flaky", {}): "demo.flaky",
            _assign_with_cli(database_url, executor, "demo.doomed", {}, "--max-attempts", "2"): "demo.doomed",
        }
        print(f"\nworker {worker.worker_id} on executor {executor}; events as they commit, in seq order:")
        async with asyncio.timeout(120):
            await _print_events(client, executor, since, jobs)
    finally:
        worker.request_stop()
        code = await running
    stats = await client.stats(executor_id=executor)
    dead = await client.dlq_list(executor_id=executor)
    print(f"\nsucceeded {stats.succeeded}, failed {stats.failed}, dead letters {dead.count}")
    for job_id in jobs:
        for artifact in await client.artifacts(job_id):
            url = await client.sign_artifact(artifact.path, expires_in=600)
            print(f"artifact {artifact.path} ({artifact.size} bytes); signed URL: {url[:96]}...")
    return code


def run_demo(client: AsyncCollabClient, database_url: str) -> int:
    """Run the demo against the migrated database at ``database_url``; the exit status."""
    async def main() -> int:
        async with client:
            return await _run(client, database_url)
    return asyncio.run(main())
