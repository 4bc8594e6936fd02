"""The seed Worker Queue API (``worker-queue-api.md``) under ``/api/jobs``, exactly:

    POST   /api/jobs/enqueue     { prompt, branch?, name?, originUrl?, idempotencyKey? }
                                 or { type, payload }           -> { success, job }
    GET    /api/jobs             ?status&type&limit=50&offset=0 -> { jobs, count }
                                 (&cursor: keyset paging, `nextCursor` in every full page)
    GET    /api/jobs/stats       ?type                          -> { stats }
    POST   /api/jobs/bulk        { action, ids? | status?, type? } -> { success, done, refused, … }
    GET    /api/jobs/:id                                        -> { job } (404 when missing)
    POST   /api/jobs/:id/retry   failed or completed -> pending, attempts 0 -> { success, job }
    DELETE /api/jobs/:id                                        -> { success, deleted }
    DELETE /api/jobs             purge the completed jobs       -> { success, purged }

The seed has one queue; collab has executors. Every route works on one executor's queue:
``?executorId=`` (``executorId`` in the enqueue body), else ``COLLAB_QUEUE_EXECUTOR``
(default ``default``). A seed-shaped enqueue (``prompt``) makes a job of
``COLLAB_QUEUE_JOB_TYPE`` (default ``claude_extraction``) whose payload is the seed's
``{ type, name, prompt, branch?, originUrl? }``; the name slug (``<words of the
prompt>-<ms>``) and the idempotency key (``enqueue-<random>-<ms>``) are generated when
omitted, as the seed says. Status words and job fields: ``collab_sdk.http.jobs_wire``.

Thin handlers, as the Collab API's: validate, one SDK call as the caller (RLS and
memberships apply; a job of another executor is a 404 here too), answer. Errors are the
one envelope of ``collab_sdk.http.errors``.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from collab_sdk.errors import NotFound
from collab_sdk.http import jobs_wire as w
from collab_sdk.http.errors import HttpError
from collab_sdk.http.pipeline import Call, Route, RouteTable
from collab_sdk.models import Job

__all__ = ["JOBS_PREFIX", "JOBS_API", "ROUTES", "QueueSettings", "slug_name", "generated_key", "enqueue",
           "list_jobs", "stats", "bulk", "get_job", "retry_job", "delete_job", "purge_completed"]

JOBS_PREFIX = "/api/jobs"


@dataclass(frozen=True)
class QueueSettings:
    """Which executor the seed's single queue is, and the type of a seed-shaped job."""

    executor_id: str = "default"
    job_type: str = "claude_extraction"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> QueueSettings:
        """``COLLAB_QUEUE_EXECUTOR`` and ``COLLAB_QUEUE_JOB_TYPE`` (read per request)."""
        env = os.environ if env is None else env
        return cls(executor_id=(env.get("COLLAB_QUEUE_EXECUTOR") or "default").strip(),
                   job_type=(env.get("COLLAB_QUEUE_JOB_TYPE") or "claude_extraction").strip())


def _now_ms() -> int:
    return int(time.time() * 1000)


def slug_name(prompt: str, *, at_ms: int | None = None) -> str:
    """The seed's generated name: the prompt's first words as a slug, then the time in ms
    (``extract-the-login-form-component-1708099200000``)."""
    words = re.findall(r"[a-z0-9]+", prompt.lower())[:6]
    slug = "-".join(words)[:60].strip("-") or "job"
    return f"{slug}-{at_ms if at_ms is not None else _now_ms()}"


def generated_key(*, at_ms: int | None = None) -> str:
    """The seed's generated idempotency key: ``enqueue-<random>-<ms>``."""
    return f"enqueue-{secrets.token_hex(4)}-{at_ms if at_ms is not None else _now_ms()}"


def _executor(call: Call, given: str | None) -> str:
    return given or QueueSettings.from_env().executor_id


async def _job_in_scope(call: Call, executor_id: str) -> Job:
    """The path's job if the caller sees it and it is in this queue; else NotFound."""
    raw = str(call.path["id"])
    try:
        job_id = UUID(raw)
    except ValueError:
        raise NotFound(f"no job {raw[:64]}", code="CL404") from None
    job = await call.client.get_job(job_id)
    if job.executor_id != executor_id:
        raise NotFound(f"no job {job_id} in queue {executor_id}", code="CL404")
    return job


def _seed_payload(body: w.EnqueueBody, job_type: str, at_ms: int) -> dict[str, Any]:
    assert body.prompt is not None
    payload: dict[str, Any] = {"type": job_type, "name": body.name or slug_name(body.prompt, at_ms=at_ms),
                               "prompt": body.prompt}
    if body.branch is not None:
        payload["branch"] = body.branch
    if body.origin_url is not None:
        payload["originUrl"] = body.origin_url
    return payload


async def enqueue(call: Call) -> w.Enqueued:
    """`POST /api/jobs/enqueue`: the seed's prompt job or a generic `{ type, payload }`."""
    body: w.EnqueueBody = call.body
    settings = QueueSettings.from_env()
    at_ms = _now_ms()
    if body.prompt is not None:
        job_type = body.type or settings.job_type
        payload = _seed_payload(body, job_type, at_ms)
    elif body.type is not None:
        job_type, payload = body.type, dict(body.payload or {})
    else:
        raise HttpError(422, "invalid_body", "prompt (the seed's job) or type (a generic job) is required")
    assigned = await call.client.assign(
        job_type, executor_id=body.executor_id or settings.executor_id, payload=payload,
        idempotency_key=body.idempotency_key or generated_key(at_ms=at_ms), priority=body.priority,
        max_attempts=body.max_attempts, run_at=body.run_at)
    job = await call.client.get_job(assigned.job_id)
    return w.Enqueued(job=w.enqueued_job(job, assigned.queued))


async def list_jobs(call: Call) -> w.JobList:
    """`GET /api/jobs`: priority desc, then created asc; `limit` 50, `offset` 0, or the
    page after `cursor` (keyset; `offset` is then not used); `nextCursor` continues
    after a full page."""
    query: w.ListQuery = call.query
    # No SDK method wraps these seed-only listings: the client's RPC core calls them.
    scope = dict(executor_id=_executor(call, query.executor_id), statuses=w.statuses_for(query.status),
                 type=query.type, page_size=query.limit)
    if query.offset and query.cursor is None:
        jobs = await call.client.rpc.many(Job, "jobs_list_v1", **scope, page_offset=query.offset)
    else:
        # The first page too: the keyset read is per status, so an unfiltered first page
        # does not sort the executor's jobs (285 ms at a million; this: under 1 ms).
        after = w.after_cursor(query.cursor) if query.cursor is not None else {}
        jobs = await call.client.rpc.many(Job, "jobs_list_after_v1", **scope, **after)
    return w.JobList(jobs=[w.queue_job(j) for j in jobs], count=len(jobs),
                     next_cursor=w.page_cursor(jobs[-1]) if len(jobs) == query.limit else None)


async def stats(call: Call) -> w.StatsAnswer:
    """`GET /api/jobs/stats`: counts by the seed's status words."""
    query: w.StatsQuery = call.query
    counts = await call.client.stats(executor_id=_executor(call, query.executor_id), type=query.type)
    return w.StatsAnswer(stats=w.queue_stats(counts))


async def get_job(call: Call) -> w.JobAnswer:
    """`GET /api/jobs/:id`: the job, 404 when it does not exist (or is not visible)."""
    query: w.ScopeQuery = call.query
    return w.JobAnswer(job=w.queue_job(await _job_in_scope(call, _executor(call, query.executor_id))))


async def retry_job(call: Call) -> w.Retried:
    """`POST /api/jobs/:id/retry`: a failed or completed job back to pending, attempts 0."""
    query: w.ScopeQuery = call.query
    job = await _job_in_scope(call, _executor(call, query.executor_id))
    return w.Retried(job=w.queue_job(await call.client.retry(job.id)))


async def delete_job(call: Call) -> w.Deleted:
    """`DELETE /api/jobs/:id`: delete a job that is not being processed."""
    query: w.ScopeQuery = call.query
    job = await _job_in_scope(call, _executor(call, query.executor_id))
    return w.Deleted(deleted=str((await call.client.delete(job.id)).id))


async def purge_completed(call: Call) -> w.Purged:
    """`DELETE /api/jobs`: delete every completed job of the queue."""
    query: w.ScopeQuery = call.query
    purged = await call.client.purge(older_than_seconds=0, executor_id=_executor(call, query.executor_id),
                                     statuses=["succeeded"])
    return w.Purged(purged=purged)


async def bulk(call: Call) -> w.BulkAnswer:
    """`POST /api/jobs/bulk`: retry, cancel or delete a selection or everything matching a
    filter, in one statement; jobs whose state forbids it are counted as refused."""
    body: w.BulkBody = call.body
    result = await call.client.jobs_bulk(
        body.action, executor_id=_executor(call, body.executor_id), job_ids=body.ids,
        statuses=w.statuses_for(body.status), type=body.type, reason=body.reason)
    return w.bulk_answer(result)


_ID = "/<id>"

ROUTES: tuple[Route, ...] = (
    Route("queue.enqueue", "POST", "/enqueue", enqueue, w.Enqueued,
          "Add a job: the seed's `{ prompt, branch?, name?, originUrl?, idempotencyKey? }` "
          "(a job of the server's default type) or a generic `{ type, payload }`",
          body=w.EnqueueBody, errors=(403, 409, 413, 422)),
    Route("queue.list", "GET", "", list_jobs, w.JobList,
          "List jobs by priority (desc) then creation (asc): `{ jobs, count }`", query=w.ListQuery,
          errors=(403, 422)),
    Route("queue.stats", "GET", "/stats", stats, w.StatsAnswer,
          "Counts by status: `{ stats: { pending, claimed, completed, failed, total } }`",
          query=w.StatsQuery),
    Route("queue.bulk", "POST", "/bulk", bulk, w.BulkAnswer,
          "Retry, cancel or delete the selected `ids`, or every job matching `status` and `type`: "
          "`{ success, action, matched, done, refused, refusedByStatus, notFound }`",
          body=w.BulkBody, errors=(403, 422)),
    Route("queue.purge", "DELETE", "", purge_completed, w.Purged,
          "Purge every completed job: `{ success, purged }`", query=w.ScopeQuery, errors=(403,)),
    Route("queue.get", "GET", _ID, get_job, w.JobAnswer, "A job: `{ job }`", query=w.ScopeQuery,
          errors=(404,)),
    Route("queue.retry", "POST", f"{_ID}/retry", retry_job, w.Retried,
          "Reset a failed or completed job to pending with attempts 0: `{ success, job }`",
          query=w.ScopeQuery, errors=(403, 404, 409)),
    Route("queue.delete", "DELETE", _ID, delete_job, w.Deleted,
          "Delete a job that is not being processed: `{ success, deleted }`",
          query=w.ScopeQuery, errors=(403, 404, 409)),
)

#: The seed Worker Queue API.
JOBS_API = RouteTable("jobs", JOBS_PREFIX, ROUTES)
