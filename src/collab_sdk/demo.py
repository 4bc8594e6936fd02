"""``collab demo``: the queue end to end on a real Postgres, in a few seconds.

Enqueues jobs of three kinds through the SDK, runs a minimal worker loop (claim in
batches, complete or fail), and prints each job's event log: ``demo.ok`` succeeds and
stores an artifact, ``demo.flaky`` fails once and is retried, ``demo.doomed`` fails
permanently and lands in the dead-letter queue.
"""

from __future__ import annotations

import time
import uuid

from collab_sdk.models import Job, JobSpec
from collab_sdk.sync import CollabClient

__all__ = ["run_demo"]

_KINDS = ("demo.ok", "demo.flaky", "demo.doomed")


def _handle(client: CollabClient, job: Job, worker: str) -> None:
    if job.type == "demo.ok" or (job.type == "demo.flaky" and job.attempts > 1):
        if job.type == "demo.ok" and client.aio.storage is not None:
            client.upload_artifact(job.id, "hello.txt", f"hello from job {job.id}\n".encode(),
                                   worker_id=worker)
        client.complete(job.id, worker, result={"ok": True}, attempt=job.attempts)
    else:
        client.fail(job.id, worker, error=f"{job.type} failed on attempt {job.attempts}",
                    retryable=job.type == "demo.flaky", retry_delay_seconds=0, attempt=job.attempts)


def _work(client: CollabClient, executor: str, worker: str) -> int:
    """Claim and handle until the executor has nothing due; return jobs handled."""
    handled = 0
    while jobs := client.claim_many(executor, worker, max_jobs=10, lease_seconds=30):
        for job in jobs:
            _handle(client, job, worker)
            handled += 1
    return handled


def _print_events(client: CollabClient, executor: str) -> None:
    for job in reversed(list(client.iter_jobs(executor_id=executor))):
        summary = client.summary(job.id)
        print(f"\njob {job.id} ({job.type}) {job.status.value}")
        for event in summary.events:
            detail = event.payload.get("error") or event.payload.get("worker_id") or ""
            print(f"  #{event.seq:<5} {event.event_type:<16} {detail}")
        for artifact in summary.artifacts:
            print(f"  artifact {artifact.path} ({artifact.size} bytes, sha256 {artifact.sha256})")


def run_demo(client: CollabClient, *, jobs: int = 5) -> int:
    """Run the demo with ``client``; return the exit code."""
    executor = f"demo-{uuid.uuid4().hex[:6]}"
    worker = f"demo-worker-{uuid.uuid4().hex[:6]}"
    client.assign_many(JobSpec(type=_KINDS[i % 3], executor_id=executor, payload={"n": i})
                       for i in range(jobs))
    print(f"enqueued {jobs} jobs on executor {executor}")
    started = time.perf_counter()
    handled = _work(client, executor, worker)
    print(f"worker {worker} handled {handled} claims in {time.perf_counter() - started:.3f}s")
    _print_events(client, executor)
    stats = client.stats(executor_id=executor)
    print(f"\nstats: {stats.model_dump(include={'succeeded', 'failed', 'total'})}")
    print(f"dead letters: {client.dlq_list(executor_id=executor).count}")
    return 0
