"""One process, traced with opentelemetry-sdk's in-memory exporter: enqueue ``trace.ok``
(async handler, opens a span of its own), ``trace.sync`` (sync handler, likewise) and
``trace.boom`` (raises, not retried) inside an application span, run a worker until the
three are over, and print every finished span as one JSON line each.

    python tracing_app.py DATABASE_URL
    python tracing_app.py DATABASE_URL blocking

``blocking``: the same with the blocking ``CollabClient`` only. ``trace.blocking`` is
enqueued from the main thread inside ``app.blocking``; a worker built on that client runs
it with a sync handler, which enqueues ``trace.followup`` through the same client from its
own thread, inside ``app.inside.blocking``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from collab_sdk import AsyncCollabClient, CollabClient, Job
from collab_sdk.worker.context import JobContext, SyncJobContext
from collab_sdk.worker.loop import Worker

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
app_tracer = trace.get_tracer("app")


async def main(url: str) -> None:
    async with AsyncCollabClient.from_url(url, max_size=4) as client:
        with app_tracer.start_as_current_span("app.request"):
            ok = await client.assign("trace.ok", executor_id="ex", payload={"n": 1})
            boom = await client.assign("trace.boom", executor_id="ex", max_attempts=1)
        with app_tracer.start_as_current_span("app.batch"):
            batch = await client.assign_many([{"type": "trace.sync", "executor_id": "ex"}])
        worker = Worker(client, executor_id="ex", poll_interval=0.2, heartbeat_interval=5)

        @worker.task("trace.ok")
        async def handle_ok(job: Job, ctx: JobContext) -> dict[str, Any]:
            with app_tracer.start_as_current_span("app.inside.async"):
                return {"ok": True}

        @worker.task("trace.sync")
        def handle_sync(job: Job, ctx: SyncJobContext) -> str:
            with app_tracer.start_as_current_span("app.inside.sync"):
                return "done"

        @worker.task("trace.boom")
        async def handle_boom(job: Job, ctx: JobContext) -> None:
            raise RuntimeError("boom")

        running = asyncio.create_task(worker.run_async())
        ids = [ok.job_id, boom.job_id, batch[0].job_id]
        for _ in range(200):
            jobs = [await client.get_job(i) for i in ids]
            if all(j.status.value in ("succeeded", "failed") for j in jobs):
                break
            await asyncio.sleep(0.05)
        worker.request_stop()
        await asyncio.wait_for(running, timeout=30)
        rows = await client.jobs_recent(executor_id="ex")
        print(json.dumps({"jobs": {str(j.id): j.status.value for j in rows.items}}))
    print_spans()


def blocking(url: str) -> None:
    with CollabClient.from_url(url, max_size=4) as client:
        with app_tracer.start_as_current_span("app.blocking"):
            client.assign("trace.blocking", executor_id="ex")
        worker = Worker(client, executor_id="ex", poll_interval=0.2, heartbeat_interval=5)

        @worker.task("trace.blocking")
        def handle_blocking(job: Job, ctx: SyncJobContext) -> str:
            with app_tracer.start_as_current_span("app.inside.blocking"):
                client.assign("trace.followup", executor_id="ex")  # from the handler's thread
            return "done"

        @worker.task("trace.followup")
        def handle_followup(job: Job, ctx: SyncJobContext) -> str:
            return "followed"

        running = client.submit(worker.run_async())
        for _ in range(400):
            rows = client.jobs_recent(executor_id="ex").items
            if len(rows) == 2 and all(j.status.value == "succeeded" for j in rows):
                break
            time.sleep(0.05)
        worker.request_stop()
        running.result(timeout=30)
        print(json.dumps({"jobs": {str(j.id): j.status.value for j in client.jobs_recent(executor_id="ex").items}}))
    print_spans()


def print_spans() -> None:
    for span in exporter.get_finished_spans():
        context, parent = span.get_span_context(), span.parent
        print(json.dumps({
            "name": span.name, "trace": f"{context.trace_id:032x}", "span": f"{context.span_id:016x}",
            "parent": None if parent is None else f"{parent.span_id:016x}",
            "kind": span.kind.name, "status": span.status.status_code.name,
            "attributes": dict(span.attributes or {}), "start": span.start_time, "end": span.end_time,
            "events": [e.name for e in span.events]}))


if __name__ == "__main__":
    if sys.argv[2:] == ["blocking"]:
        blocking(sys.argv[1])
    else:
        asyncio.run(main(sys.argv[1]))
