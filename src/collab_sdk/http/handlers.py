"""The handlers: validated input in, one SDK call (as the caller), a model out.

Each handler is ``async`` and awaits the caller's ``AsyncCollabClient`` on the server's
loop. No SQL and no queue logic here: the engine decides (membership, leases,
idempotency) and its errors become HTTP statuses in ``collab_sdk.http.errors``. Each handler serves
its Collab API route and, where it has one, its function (see ``routes``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import PurePosixPath
from uuid import UUID

from collab_sdk.errors import LeaseLost, NotFound, ValidationError
from collab_sdk.http import wire
from collab_sdk.http.errors import HttpError
from collab_sdk.http.pipeline import Call
from collab_sdk.models import (Assigned, DeadLetter, Job, JobStatus, JobSummary, MetricsOverview,
                               Page)
from collab_sdk.transports.storage import check_object_path

__all__ = ["health", "task_assign", "task_claim", "task_result", "job_get", "job_summary",
           "job_retry", "job_cancel", "job_delete", "events_by_job", "artifacts_by_job",
           "jobs_recent", "jobs_stats", "jobs_purge", "metrics_overview", "metrics_throughput", "workers_heartbeat",
           "workers_active", "dlq_list", "dlq_retry", "sign_artifact"]


async def health(call: Call) -> wire.Health:
    """``{ ok, timestamp }``: the process answers (no database round trip)."""
    return wire.Health(ok=True, timestamp=datetime.now(timezone.utc))


async def task_assign(call: Call) -> Assigned:
    """`task.assign`: enqueue; the body's or `X-Idempotency-Key`'s key (they must agree)."""
    body: wire.AssignBody = call.body
    header_key = call.headers.get("x-idempotency-key")
    if header_key is not None and body.idempotency_key is not None and header_key != body.idempotency_key:
        raise HttpError(422, "invalid_body", "idempotencyKey and X-Idempotency-Key differ")
    key = body.idempotency_key or header_key
    if key is not None and not 1 <= len(key) <= 255:
        raise HttpError(422, "invalid_body", "X-Idempotency-Key must be 1-255 characters")
    return await call.client.assign(body.type, executor_id=body.executor_id, payload=body.payload,
                              idempotency_key=key, priority=body.priority,
                              max_attempts=body.max_attempts, run_at=body.run_at)


#: ``task.result``'s answer, the same every time.
_OK = wire.Ok()


async def task_claim(call: Call) -> wire.ClaimAnswer:
    """`task.claim`: lease the next due job of the executor, or `{ job: null }`."""
    body: wire.ClaimBody = call.body
    job = await call.client.claim(body.executor_id, body.worker_id, lease_seconds=body.lease_seconds,
                            type_prefix=body.type_prefix)
    return wire.ClaimAnswer(job=job)


async def task_result(call: Call) -> wire.Ok:
    """Complete (``ok``) or fail the job, fenced by the worker's lease. The seeds' body
    names no worker: then the job's current lease holder and attempt are used. The answer
    is ``{ ok: true }``, so only the job's id comes back from the database. A completion
    without artifacts goes through ``Runtime.group_commit`` (one commit for the caller's
    concurrent completions of one worker; each request still gets its own answer)."""
    body: wire.ResultBody = call.body
    worker_id, attempt = body.worker_id, body.attempt
    if worker_id is None or body.type is not None:
        job = await call.client.get_job(body.job_id)
        if body.type is not None and body.type != job.type:
            raise HttpError(409, "type_mismatch", f"job {job.id} is a {job.type}, not a {body.type}")
        if worker_id is None:
            if job.status is not JobStatus.RUNNING or job.lease_owner is None:
                raise LeaseLost(f"job {job.id} is {job.status.value}, not running", code="CL410")
            worker_id, attempt = job.lease_owner, attempt or job.attempts
    if body.ok and not body.artifact and not body.artifacts:
        # Concurrent completions of this caller and worker share one commit.
        await call.runtime.group_commit.complete(
            call.client, call.runtime.reader_key(call.identity) if call.identity else "trusted",
            body.job_id, worker_id, result=body.result, attempt=attempt, size=_body_size(call))
    elif body.ok:
        given = ([body.artifact] if body.artifact else []) + (body.artifacts or [])
        artifacts = [a.model_dump(by_alias=False, exclude_none=True) for a in given]
        await call.client.complete_id(body.job_id, worker_id, result=body.result,
                                      artifacts=artifacts, attempt=attempt)
    else:
        await call.client.fail_id(body.job_id, worker_id, error=body.error, retryable=body.retryable,
                                  retry_delay_seconds=body.retry_delay_seconds, attempt=attempt)
    return _OK


def _body_size(call: Call) -> int | None:
    """The request body's declared size (None when it was sent chunked)."""
    length = call.headers.get("content-length")
    return int(length) if length is not None and length.isdigit() else None


async def job_get(call: Call) -> wire.JobAnswer:
    """`GET job/:id`: the job, if the caller may see it."""
    return wire.JobAnswer(job=await call.client.get_job(call.path["job_id"]))


async def job_summary(call: Call) -> JobSummary:
    """`GET job/:id/summary`: the job with its artifacts and events."""
    return await call.client.summary(call.path["job_id"])


async def job_retry(call: Call) -> wire.ManagedJob:
    """`POST job/:id/retry`: put a finished job back in the queue."""
    return wire.ManagedJob(job=await call.client.retry(call.path["job_id"]))


async def job_cancel(call: Call) -> wire.ManagedJob:
    """`POST job/:id/cancel`: cancel a queued or running job."""
    body: wire.CancelBody = call.body
    return wire.ManagedJob(job=await call.client.cancel(call.path["job_id"], reason=body.reason))


async def job_delete(call: Call) -> wire.Deleted:
    """`DELETE job/:id`: delete a job that is not running."""
    return wire.Deleted(deleted=(await call.client.delete(call.path["job_id"])).id)


async def events_by_job(call: Call) -> wire.EventItems:
    """`GET events/by-job/:id`: the job's events in order, after `afterSeq`."""
    query: wire.EventsQuery = call.query
    events = await call.client.events(call.path["job_id"], after_seq=query.after_seq, page_size=query.limit)
    return wire.EventItems(items=events, count=len(events))


async def artifacts_by_job(call: Call) -> wire.ArtifactItems:
    """`GET artifacts/by-job/:id`: the job's artifact rows."""
    artifacts = await call.client.artifacts(call.path["job_id"])
    return wire.ArtifactItems(items=artifacts, count=len(artifacts))


async def jobs_recent(call: Call) -> Page[Job]:
    """`GET jobs/recent` (function `jobs-recent`): a page of jobs, newest first."""
    query: wire.RecentQuery = call.query
    return await call.client.jobs_recent(executor_id=query.executor_id, page_size=query.limit,
                                   cursor=query.cursor, type=query.type,
                                   status=query.status.value if query.status else None)


async def jobs_stats(call: Call) -> wire.StatsAnswer:
    """`GET jobs/stats`: job counts by status."""
    query: wire.ExecutorQuery = call.query
    return wire.StatsAnswer(stats=await call.client.stats(executor_id=query.executor_id))


async def jobs_purge(call: Call) -> wire.Purged:
    """`DELETE jobs`: delete finished jobs older than an age."""
    query: wire.PurgeQuery = call.query
    statuses = query.statuses.split(",") if query.statuses else None
    purged = await call.client.purge(older_than_seconds=query.older_than_seconds,
                               executor_id=query.executor_id, statuses=statuses)
    return wire.Purged(purged=purged)


async def metrics_overview(call: Call) -> MetricsOverview:
    """`GET metrics/overview` (function `metrics-overview`)."""
    query: wire.ExecutorQuery = call.query
    return await call.client.metrics(executor_id=query.executor_id)


async def metrics_throughput(call: Call) -> wire.ThroughputItems:
    """`GET metrics/throughput`: succeeded and failed jobs per minute."""
    query: wire.ThroughputQuery = call.query
    items = await call.client.throughput(executor_id=query.executor_id, minutes=query.minutes)
    return wire.ThroughputItems(items=items, count=len(items))


async def workers_heartbeat(call: Call) -> wire.HeartbeatAnswer:
    """`POST workers/heartbeat`: upsert the worker's presence row."""
    body: wire.HeartbeatBody = call.body
    worker = await call.client.heartbeat(body.worker_id, body.executor_id, status=body.status,
                                   version=body.version, capacity=body.capacity,
                                   running=body.running, metadata=body.metadata)
    return wire.HeartbeatAnswer(worker=worker)


async def workers_active(call: Call) -> wire.WorkerItems:
    """`GET workers/active` (function `workers-active`): workers seen recently."""
    query: wire.ActiveQuery = call.query
    workers = await call.client.workers_active(within_seconds=query.within_seconds,
                                         executor_id=query.executor_id)
    return wire.WorkerItems(items=workers, count=len(workers))


async def dlq_list(call: Call) -> Page[DeadLetter]:
    """`GET dlq` (function `dlq-list`): a page of dead letters, newest first."""
    query: wire.DlqListQuery = call.query
    return await call.client.dlq_list(executor_id=query.executor_id, page_size=query.limit,
                                cursor=query.cursor, include_retried=query.include_retried)


async def dlq_retry(call: Call) -> Assigned:
    """`POST dlq/retry` (function `dlq-retry`): re-enqueue a dead letter's job once."""
    body: wire.DlqRetryBody = call.body
    return await call.client.dlq_retry(body.dlq_id)


async def sign_artifact(call: Call) -> wire.SignedUrl:
    """A signed download URL for an artifact of a job the caller may read. Paths are
    ``<executor>/<job id>/<name>`` (``collab_sdk.client.artifacts``); the job must list it."""
    query: wire.SignQuery = call.query
    if query.bucket not in call.runtime.settings.buckets:
        raise HttpError(403, "bucket_not_allowed", f"bucket {query.bucket!r} may not be signed")
    job_id = _artifact_job(query.bucket, query.path)
    url = await call.client.sign_artifact(query.path, expires_in=query.expires, bucket=query.bucket,
                                    job_id=job_id)
    return wire.SignedUrl(signed_url=url, expires_in=query.expires, bucket=query.bucket,
                          path=query.path)


def _artifact_job(bucket: str, path: str) -> UUID:
    try:
        check_object_path(bucket, path)
    except ValidationError as exc:
        raise HttpError(400, "invalid_path", exc.message) from None
    parts = PurePosixPath(path).parts
    if "." in path.split("/") or "" in path.split("/") or len(parts) < 3:
        raise HttpError(400, "invalid_path", "path must be <executor>/<job id>/<name>")
    try:
        return UUID(parts[1])
    except ValueError:
        raise NotFound(f"no artifact {bucket}/{path}", code="CL404") from None

