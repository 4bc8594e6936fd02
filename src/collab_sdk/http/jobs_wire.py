"""The bodies of the seed Worker Queue API (``/api/jobs``, ``worker-queue-api.md``), camelCase.

The seed speaks four status words, collab five: ``pending`` is ``queued`` (including a job
waiting out a retry's backoff), ``claimed`` is ``running``, ``completed`` is ``succeeded``,
and ``failed`` is ``failed`` *or* ``cancelled`` — a job that will not complete. A
cancelled job says so in ``cancelled: true`` (and its reason in ``lastError``), ``GET
/api/jobs?status=failed`` lists both, and ``?status=cancelled`` only the cancelled ones;
``stats.failed`` counts both and ``stats.cancelled`` the cancelled part of it.

``queue_job(job)`` is the one place a ``collab_sdk.models.Job`` becomes the seed's job:
its fields, in the seed's order, then collab's extras (``executorId``, ``result``,
``leaseUntil``, ``runAt``, ``updatedAt``, ``cancelled``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import ConfigDict, Field, StringConstraints

from collab_sdk.http.errors import HttpError
from collab_sdk.http.wire import (DATE_PATTERN, OFFSET_PATTERN, TIME_PATTERN, UUID_PATTERN, Body,
                                  RUN_AT_DESCRIPTION, Attempts, ClientTime, Input, Key, Name,
                                  Priority, Query, Text)
from collab_sdk.models import BulkAction, BulkResult, Job, JobStatus, Stats

__all__ = ["STATUS_WORDS", "statuses_for", "page_cursor", "after_cursor", "QueueJob", "EnqueuedJob", "queue_job", "enqueued_job",
           "EnqueueBody", "ListQuery", "ScopeQuery", "Enqueued", "JobList", "QueueStats",
           "StatsAnswer", "JobAnswer", "Retried", "Deleted", "Purged", "queue_stats",
           "StatsQuery", "BulkBody", "BulkAnswer", "bulk_answer"]

#: The seed's status words (``cancelled`` is accepted as a filter: the cancelled failures).
_SeedStatus = Literal["pending", "claimed", "completed", "failed"]
#: collab's status → the seed's word.
STATUS_WORDS: dict[JobStatus, _SeedStatus] = {
    JobStatus.QUEUED: "pending", JobStatus.RUNNING: "claimed", JobStatus.SUCCEEDED: "completed",
    JobStatus.FAILED: "failed", JobStatus.CANCELLED: "failed"}
_FILTERS: dict[str, list[str]] = {
    "pending": ["queued"], "claimed": ["running"], "completed": ["succeeded"],
    "failed": ["failed", "cancelled"], "cancelled": ["cancelled"]}


def statuses_for(word: str | None) -> list[str] | None:
    """collab's statuses a seed ``status`` filter selects (None: every status)."""
    return None if word is None else _FILTERS[word]


#: ``page_cursor``'s form: what ``after_cursor`` reads (every match parses).
QUEUE_CURSOR_PATTERN = (rf"^-?[0-9]{{1,5}}~{DATE_PATTERN}T{TIME_PATTERN}{OFFSET_PATTERN}"
                        rf"~{UUID_PATTERN}$")


def page_cursor(job: Job) -> str:
    """The cursor after ``job`` in the list's order (priority desc, created asc, id):
    ``<priority>~<created_at ISO>~<id>``, opaque to clients."""
    return f"{job.priority}~{job.created_at.isoformat()}~{job.id}"


def after_cursor(cursor: str) -> dict[str, Any]:
    """``jobs_list_after_v1``'s keyset arguments from a ``page_cursor`` (422 if it is none)."""
    try:
        priority, created_at, job_id = cursor.split("~")
        return {"after_priority": int(priority), "after_created_at": datetime.fromisoformat(created_at),
                "after_id": UUID(job_id)}
    except ValueError:
        raise HttpError(422, "invalid_cursor", "cursor must be the nextCursor of a previous page") from None


class QueueJob(Body):
    """A job as the seed shows it, then collab's extras."""

    id: str
    type: str
    status: _SeedStatus
    payload: Any
    priority: int
    attempts: int
    max_attempts: int
    last_error: str | None
    locked_by: str | None = Field(description="the worker holding the lease (null unless claimed)")
    locked_at: datetime | None = Field(description="when the current lease began (null unless claimed)")
    created_at: datetime
    claimed_at: datetime | None = Field(description="when the job was last claimed")
    completed_at: datetime | None = Field(description="when it completed, failed or was cancelled")
    idempotency_key: str | None
    executor_id: str
    cancelled: bool = Field(description="true for a cancelled job (seed status `failed`)")
    result: Any = None
    lease_until: datetime | None = None
    run_at: datetime | None = Field(default=None, description="when a pending job is next due")
    updated_at: datetime | None = None


class EnqueuedJob(QueueJob):
    """The enqueued job: the seed's ``{ id, name, status, createdAt }`` and the rest."""

    name: str | None = Field(description="the payload's `name` (the slug), if any")
    queued: bool = Field(description="false when an earlier enqueue with this idempotency key made it")


def queue_job(job: Job) -> QueueJob:
    """``job`` in the seed's shape."""
    return QueueJob(**_fields(job))


def _fields(job: Job) -> dict[str, Any]:
    running = job.status is JobStatus.RUNNING
    return dict(
        id=str(job.id), type=job.type, status=STATUS_WORDS[job.status], payload=job.payload,
        priority=job.priority, attempts=job.attempts, max_attempts=job.max_attempts,
        last_error=job.last_error, locked_by=job.lease_owner if running else None,
        locked_at=job.started_at if running else None, created_at=job.created_at,
        claimed_at=job.started_at, completed_at=job.finished_at,
        idempotency_key=job.idempotency_key, executor_id=job.executor_id,
        cancelled=job.status is JobStatus.CANCELLED, result=job.result,
        lease_until=job.lease_until,
        run_at=job.next_run_at if job.status is JobStatus.QUEUED else None,
        updated_at=job.updated_at)


def enqueued_job(job: Job, queued: bool) -> EnqueuedJob:
    """The enqueue answer's job."""
    name = job.payload.get("name") if isinstance(job.payload, dict) else None
    return EnqueuedJob(**_fields(job), name=name if isinstance(name, str) else None, queued=queued)


Prompt = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=2048)]


class EnqueueBody(Body):
    """`POST /api/jobs/enqueue`: the seed's body (`prompt` …, into the server's default
    job type) or a generic `{ type, payload }`; `executorId` (default: the server's queue
    executor), `priority`, `maxAttempts` and `runAt` are collab's extras."""

    # One of them is required (the handler's 422 otherwise): the schema says so too.
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["prompt"], "properties": {"prompt": {"type": "string"}}},
        {"required": ["type"], "properties": {"type": {"type": "string"}}}]})

    prompt: Prompt | None = Field(default=None, description="the seed's job: its instructions")
    branch: Short | None = None
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")] | None = \
        Field(default=None, description="slug; generated from the prompt when omitted")
    origin_url: Short | None = None
    idempotency_key: Key | None = Field(default=None, description="generated when omitted")
    type: Name | None = Field(default=None, description="the job type (default: the server's)")
    payload: dict[str, Any] | None = Field(default=None, description="a generic job's payload")
    executor_id: Name | None = None
    priority: Priority | None = None
    max_attempts: Attempts | None = None
    run_at: ClientTime | None = Field(default=None, description=RUN_AT_DESCRIPTION)


class ScopeQuery(Query):
    """Which executor's queue (default: the server's, ``COLLAB_QUEUE_EXECUTOR``)."""

    executor_id: Name | None = None


_Filter = Literal["pending", "claimed", "completed", "failed", "cancelled"]


class StatsQuery(ScopeQuery):
    """`GET /api/jobs/stats`: the queue's counts, of one job `type` if given (collab's extra)."""

    type: Name | None = None


class ListQuery(ScopeQuery):
    """`GET /api/jobs`: the seed's filters and paging, and collab's keyset paging: pass a
    page's `nextCursor` as `cursor` (instead of an `offset`) for the page after it."""

    status: _Filter | None = None
    type: Name | None = None
    limit: int = Field(default=50, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=1_000_000,
                        description="rows to skip (not used with a `cursor`, which names the page)")
    cursor: Annotated[str, StringConstraints(pattern=QUEUE_CURSOR_PATTERN)] | None = Field(
        default=None, description="a page's `nextCursor`: the page after it")


class Enqueued(Body):
    """`{ success, job }`."""

    success: Literal[True] = True
    job: EnqueuedJob


class JobList(Body):
    """`{ jobs, count }`: `count` is how many jobs this answer holds."""

    jobs: list[QueueJob]
    count: int
    next_cursor: str | None = Field(default=None, description="the page after this one: pass it as "
                                    "`cursor`; null on the last page (collab's extra)")


class QueueStats(Body):
    """The seed's counts (`failed` includes `cancelled`, counted apart too)."""

    pending: int
    claimed: int
    completed: int
    failed: int
    total: int
    cancelled: int


def queue_stats(stats: Stats) -> QueueStats:
    """collab's counts under the seed's words."""
    return QueueStats(pending=stats.queued, claimed=stats.running, completed=stats.succeeded,
                      failed=stats.failed + stats.cancelled, total=stats.total,
                      cancelled=stats.cancelled)


class StatsAnswer(Body):
    """`{ stats }`."""

    stats: QueueStats


class JobAnswer(Body):
    """`{ job }`."""

    job: QueueJob


class Retried(Body):
    """`{ success, job }`: the job, pending again with attempts 0."""

    success: Literal[True] = True
    job: QueueJob


class Deleted(Body):
    """`{ success, deleted }`: the deleted job's id."""

    success: Literal[True] = True
    deleted: str


class Purged(Body):
    """`{ success, purged }`: how many completed jobs were deleted."""

    success: Literal[True] = True
    purged: int


class BulkBody(Input):
    """`POST /api/jobs/bulk`: an `action` on the selected `ids`, or, without `ids`, on every
    job of the queue matching `status` and `type` (the list's filter)."""

    action: BulkAction
    ids: list[UUID] | None = Field(default=None, max_length=10000, description="a selection")
    status: _Filter | None = None
    type: Name | None = None
    reason: Text | None = Field(default=None, description="a cancel's reason (the jobs' lastError)")
    executor_id: Name | None = None


class BulkAnswer(Body):
    """`{ success, action, matched, done, refused, refusedByStatus, notFound }`: jobs whose
    state forbids the action are refused (counted by the seed's status words, `cancelled`
    apart), not an error."""

    success: Literal[True] = True
    action: BulkAction
    matched: int
    done: int
    refused: int
    refused_by_status: dict[str, int]
    not_found: int


def bulk_answer(result: BulkResult) -> BulkAnswer:
    """``jobs_bulk_v1``'s answer in the seed's words."""
    words: dict[str, int] = {}
    for status, n in result.refused_by_status.items():
        word = "cancelled" if status == "cancelled" else STATUS_WORDS[JobStatus(status)]
        words[word] = words.get(word, 0) + n
    return BulkAnswer(action=result.action, matched=result.matched, done=result.done,
                      refused=result.refused, refused_by_status=words, not_found=result.not_found)
