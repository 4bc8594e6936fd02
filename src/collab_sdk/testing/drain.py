"""``await drain(worker)``: run a worker's due jobs inline, the way a test wants them.

``drain`` runs the worker itself — ``Worker.run_async`` with its registered handlers,
leases, retries and completions, nothing simulated — and stops it (``request_stop``) as
soon as nothing is left to do: no job of its executor that it handles is due, and none it
leased is still running. Jobs a handler enqueues, and retries that fall due meanwhile,
are run too. It returns what happened to each attempt, read from the job's event log:
one ``Outcome`` per ``succeeded``, ``retry_scheduled``, ``failed`` or ``cancelled`` event
of the executor since the drain began, in ``seq`` order.

Burst mode (arq's ``burst=True``) is what this is; a worker built on the blocking
``CollabClient`` runs on that client's own loop, so give ``drain`` a worker built on an
``AsyncCollabClient`` in the test's loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.client.streams import job_filter, read_settled
from collab_sdk.models import Job
from collab_sdk.worker.loop import Worker

__all__ = ["drain", "Outcome", "ATTEMPT_ENDS"]

#: The events that end an attempt (or a job): what ``drain`` reports.
ATTEMPT_ENDS = frozenset({"succeeded", "retry_scheduled", "failed", "cancelled"})


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended: the job (as it is after the drain), the event that ended
    the attempt, the attempt's number, and its result or error."""

    job: Job
    event: str
    attempt: int | None
    result: Any = None
    error: str | None = None
    seq: int = 0

    @property
    def job_id(self) -> UUID:
        """The job's id."""
        return self.job.id

    @property
    def type(self) -> str:
        """The job's type."""
        return self.job.type

    @property
    def succeeded(self) -> bool:
        """Whether this attempt completed the job."""
        return self.event == "succeeded"


async def drain(worker: Worker, *, timeout: float = 30.0, check_every: float = 0.05) -> list[Outcome]:
    """Run ``worker`` until none of its executor's jobs that it handles is due or
    running, then stop it; the ``Outcome`` of every attempt that ended meanwhile.
    ``TimeoutError`` when jobs are still due after ``timeout`` seconds (the worker is
    stopped first); the worker's own error, if it stopped by one."""
    client = worker.client
    since = await client.events_head()
    running = asyncio.create_task(worker.run_async())
    try:
        async with asyncio.timeout(timeout):
            while not running.done() and await _work_left(client, worker):
                await asyncio.sleep(check_every)
    finally:
        worker.request_stop()
        await running
    return await _outcomes(client, worker.executor_id, since)


async def _work_left(client: AsyncCollabClient, worker: Worker) -> bool:
    """Whether a job the worker handles is due now, or one it leased is still running.
    The reads are one consistent view only if no event committed while they ran (every
    insert and transition writes one), so a moving log counts as work left."""
    head = await client.events_head()
    now = datetime.now(timezone.utc)
    async for job in client.iter_jobs(executor_id=worker.executor_id, status="queued"):
        if worker.tasks.find(job.type) is not None and (job.next_run_at is None or job.next_run_at <= now):
            return True
    async for job in client.iter_jobs(executor_id=worker.executor_id, status="running"):
        if job.lease_owner == worker.worker_id:
            return True
    return await client.events_head() != head


async def _outcomes(client: AsyncCollabClient, executor_id: str, since: int) -> list[Outcome]:
    events, _ = await read_settled(client.rpc, job_filter(None, executor_id), since)
    ends = [e for e in events if e.event_type in ATTEMPT_ENDS]
    jobs = {job_id: await client.get_job(job_id) for job_id in dict.fromkeys(e.job_id for e in ends)}
    return [Outcome(job=jobs[e.job_id], event=e.event_type, attempt=e.payload.get("attempt"),
                    result=jobs[e.job_id].result if e.event_type == "succeeded" else None,
                    error=e.payload.get("error"), seq=e.seq) for e in ends]
