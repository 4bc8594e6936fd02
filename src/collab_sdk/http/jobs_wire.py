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

from pydantic import AwareDatetime, Field, StringConstraints

from collab_sdk.http.wire import Body, Int, Key, Name, Query
from collab_sdk.models import Job, JobStatus, Stats

__all__ = ["STATUS_WORDS", "statuses_for", "QueueJob", "EnqueuedJob", "queue_job", "enqueued_job",
           "EnqueueBody", "ListQuery", "ScopeQuery", "Enqueued", "JobList", "QueueStats",
           "StatsAnswer", "JobAnswer", "Retried", "Deleted", "Purged", "queue_stats"]

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

    prompt: Prompt | None = Field(default=None, description="the seed's job: its instructions")
    branch: Short | None = None
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")] | None = \
        Field(default=None, description="slug; generated from the prompt when omitted")
    origin_url: Short | None = None
    idempotency_key: Key | None = Field(default=None, description="generated when omitted")
    type: Name | None = Field(default=None, description="the job type (default: the server's)")
    payload: dict[str, Any] | None = Field(default=None, description="a generic job's payload")
    executor_id: Name | None = None
    priority: Int | None = Field(default=None, ge=-32768, le=32767)
    max_attempts: Int | None = Field(default=None, ge=1, le=1000)
    run_at: AwareDatetime | None = None


class ScopeQuery(Query):
    """Which executor's queue (default: the server's, ``COLLAB_QUEUE_EXECUTOR``)."""

    executor_id: Name | None = None


class ListQuery(ScopeQuery):
    """`GET /api/jobs`: the seed's filters and paging."""

    status: Literal["pending", "claimed", "completed", "failed", "cancelled"] | None = None
    type: Name | None = None
    limit: int = Field(default=50, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class Enqueued(Body):
    """`{ success, job }`."""

    success: Literal[True] = True
    job: EnqueuedJob


class JobList(Body):
    """`{ jobs, count }`: `count` is how many jobs this answer holds."""

    jobs: list[QueueJob]
    count: int


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
