"""Typed rows and answers of the collab engine (pydantic v2).

Python names are snake_case. On the wire (the HTTP API, ``model_dump(by_alias=True)``)
they are camelCase as in the seeds: ``jobId``, ``executorId``, ``nextCursor``. Models
accept either spelling, so they read the engine's snake_case rows and HTTP bodies alike,
and ignore columns a newer schema adds.
"""

from __future__ import annotations

import builtins
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Generic, cast
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic.alias_generators import to_camel
from typing_extensions import TypeVar

from collab_sdk.errors import ValidationError
from collab_sdk.states import FINAL_JOB_STATUSES

__all__ = [
    "as_utc",
    "CollabModel",
    "JobStatus",
    "Job",
    "ClaimedJob",
    "JobEvent",
    "JobSnapshot",
    "EventsPage",
    "Horizon",
    "Artifact",
    "DeadLetter",
    "RetentionPolicy",
    "RetentionBatch",
    "StorageDeletion",
    "WorkerHeartbeat",
    "Membership",
    "Assigned",
    "JobSpec",
    "Page",
    "JobSummary",
    "Stats",
    "ThroughputMinute",
    "BulkAction",
    "BulkResult",
    "FinishedCounts",
    "Percentiles",
    "DlqCounts",
    "MetricsOverview",
    "JobCount",
    "EngineCounts",
]

PayloadT = TypeVar("PayloadT", default=dict[str, Any])
M = TypeVar("M")
ItemT = TypeVar("ItemT")


class CollabModel(BaseModel):
    """Base of every model: camelCase aliases, either spelling accepted, extra keys ignored."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True,
                              validate_by_alias=True, serialize_by_alias=True, extra="ignore")


class JobStatus(str, Enum):
    """A job's status. ``queued`` and ``running`` are live; the other three are final."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """True for ``succeeded``, ``failed`` and ``cancelled``."""
        return self.value in FINAL_JOB_STATUSES


class Job(CollabModel, Generic[PayloadT]):
    """A row of ``collab.jobs``. ``Job[MyModel]`` validates ``payload`` into ``MyModel``."""

    id: UUID
    type: str
    executor_id: str
    status: JobStatus
    payload: PayloadT
    result: Any = None
    last_error: str | None = None
    priority: int = 0
    attempts: int = 0
    max_attempts: int = 3
    idempotency_key: str | None = None
    lease_owner: str | None = None
    next_run_at: datetime | None = None
    lease_until: datetime | None = None
    created_at: datetime
    updated_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def with_payload(self, model: builtins.type[M]) -> Job[M]:
        """This job with its payload validated into ``model``; raises
        ``collab_sdk.errors.ValidationError`` naming the fields that do not fit."""
        try:
            typed: builtins.type[Job[M]] = cast(Any, Job)[model]
            return typed.model_validate(self.model_dump(by_alias=False))
        except PydanticValidationError as exc:
            raise ValidationError(f"payload of job {self.id} ({self.type}) is not a valid "
                                  f"{getattr(model, '__name__', model)}: {exc}", code="CL400") from exc


class ClaimedJob(Job[PayloadT], Generic[PayloadT]):
    """A job as a claim returns it, with what crash isolation says about it (schema 4):
    ``rescues`` counts its leases that expired (a worker died or froze holding it), and
    ``solo`` says it was handed out to run alone — the worker must run nothing beside it."""

    rescues: int = 0
    forgiven_attempts: int = 0
    #: True: run it alone; False: claimed beside others (``claim_jobs_v2``); None: ``claim_jobs_v1``.
    solo: bool | None = None
    #: The enqueuer's trace context (``assign_job_v2``; None without one): the worker's
    #: spans of this attempt are its children (``collab_sdk.tracing``).
    trace_context: dict[str, str] | None = None


class JobEvent(CollabModel):
    """A row of ``collab.job_events``; ``seq`` orders the log."""

    seq: int
    job_id: UUID
    executor_id: str | None = None
    event_type: str
    payload: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    xact_id: str | None = None

    @field_validator("xact_id", mode="before")
    @classmethod
    def _xact_id_as_text(cls, value: object) -> object:
        # psycopg returns xid8 as an int, PostgREST as a string: keep one type.
        return str(value) if isinstance(value, int) else value


class Artifact(CollabModel):
    """A row of ``collab.artifacts``: metadata of a stored object."""

    id: UUID
    job_id: UUID
    executor_id: str | None = None
    bucket: str
    path: str
    name: str
    size: int | None = None
    mime: str | None = None
    sha256: str | None = None
    url: str | None = None
    created_at: datetime


class DeadLetter(CollabModel):
    """A row of ``collab.job_dead_letters``; ``retried_job_id`` is set once retried."""

    id: UUID
    job_id: UUID | None = None
    type: str
    executor_id: str
    payload: dict[str, Any] = Field(default_factory=dict)
    priority: int = 0
    max_attempts: int = 3
    last_error: str | None = None
    attempts: int = 0
    reason: str | None = None
    created_at: datetime
    retried_at: datetime | None = None
    retried_job_id: UUID | None = None


class WorkerHeartbeat(CollabModel):
    """A row of ``collab.worker_heartbeats_v2``: the presence mirror of a worker."""

    worker_id: str
    executor_id: str
    status: str
    version: str | None = None
    capacity: int = 1
    running: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime | None = None
    last_seen_at: datetime


class Membership(CollabModel):
    """A row of ``collab.executor_members``: ``role`` is client, worker or admin."""

    executor_id: str
    user_id: UUID
    role: str
    created_at: datetime | None = None


class Assigned(CollabModel):
    """The answer to an assign: the job id, and ``queued=False`` when an earlier
    assign with the same idempotency key made the job."""

    job_id: UUID
    queued: bool


def as_utc(value: datetime) -> datetime:
    """An aware datetime in UTC (naive ones unchanged). Python allows UTC offsets up to
    ±23:59 but PostgreSQL only up to ±15:59, so times go to the engine in UTC."""
    return value.astimezone(timezone.utc) if value.tzinfo is not None else value


class JobSpec(CollabModel):
    """One job to enqueue with ``assign_many``; unset fields take the engine's defaults
    (priority 0, max_attempts 3, due now)."""

    type: str
    executor_id: str
    payload: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = None
    priority: int | None = None
    max_attempts: int | None = None
    run_at: datetime | None = None

    @field_validator("run_at")
    @classmethod
    def _run_at_in_utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value) if isinstance(value, datetime) else value

    def rpc_args(self) -> dict[str, Any]:
        """The engine's snake_case arguments, JSON-ready, leaving out unset optionals."""
        return self.model_dump(mode="json", by_alias=False, exclude_none=True)


class Page(CollabModel, Generic[ItemT]):
    """One page of a listing, newest first; pass ``next_cursor`` for the next page
    (``None`` on the last one)."""

    items: list[ItemT]
    count: int
    next_cursor: str | None = None


class JobSummary(CollabModel):
    """A job with its artifacts (oldest first) and its whole event log (by ``seq``)."""

    job: Job
    artifacts: list[Artifact]
    events: list[JobEvent]


class JobSnapshot(CollabModel):
    """A job as of event ``seq``: the row, its artifacts, and every event up to ``seq``
    (no event at or below ``seq`` can still appear). Follow it live with
    ``client.watch(job_id=..., since_seq=snapshot.seq)``."""

    job: Job
    artifacts: list[Artifact]
    events: list[JobEvent]
    seq: int


class Horizon(CollabModel):
    """Where ``job_events_after_v1`` waits: a seq not settled yet and the transaction id
    bound that settles it (passed back on the next call)."""

    seq: int
    xid: int | str


class EventsPage(CollabModel):
    """One answer of ``job_events_after_v1``: events released in seq order, the cursor to
    resume from, the pending horizon (if any), and whether more are ready now."""

    events: list[JobEvent]
    cursor: int
    horizon: Horizon | None = None
    more: bool = False


class Stats(CollabModel):
    """Job counts by status; ``pending``/``claimed``/``completed`` are the seeds' names
    for queued/running/succeeded."""

    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    total: int = 0
    pending: int = 0
    claimed: int = 0
    completed: int = 0


class ThroughputMinute(CollabModel):
    """Jobs that succeeded and failed in one minute (``throughput_v1``), from ``minute``."""

    minute: datetime
    succeeded: int
    failed: int


class BulkAction(str, Enum):
    """What ``jobs_bulk_v1`` does to each matched job whose state allows it."""

    RETRY = "retry"
    CANCEL = "cancel"
    DELETE = "delete"


class BulkResult(CollabModel):
    """The answer of ``jobs_bulk_v1``: how many jobs matched, were done and were refused
    (by their status: a running job is not deleted, a queued one not retried …), and how
    many selected ids were no job of the executor the caller may see."""

    action: BulkAction
    matched: int
    done: int
    refused: int
    refused_by_status: dict[str, int]
    not_found: int


class RetentionPolicy(CollabModel):
    """How long an executor keeps finished jobs and dead letters (``retention_policy_v1``):
    seconds after ``finished_at`` (dead letters: after ``created_at``), ``None`` for
    forever. ``is_default``: the executor has set none, so these are the defaults."""

    executor_id: str
    succeeded_seconds: int | None
    failed_seconds: int | None
    cancelled_seconds: int | None
    dead_letter_seconds: int | None
    enabled: bool
    is_default: bool = False
    updated_at: datetime | None = None


class RetentionBatch(CollabModel):
    """One ``apply_retention_v1`` call: whether it ran (held the executor's lease), what it
    deleted, and whether the pass is over."""

    ran: bool
    purged: int
    events: int
    dead_letters: int
    done: bool


class StorageDeletion(CollabModel):
    """A Storage object whose artifact row was deleted, listed for removal."""

    id: int
    executor_id: str
    bucket: str
    path: str
    queued_at: datetime


class FinishedCounts(CollabModel):
    """Jobs finished in the last 1, 5 and 60 minutes."""

    last_1m: int = Field(alias="last1m")
    last_5m: int = Field(alias="last5m")
    last_60m: int = Field(alias="last60m")


class Percentiles(CollabModel):
    """p50/p95 in milliseconds, ``None`` when there was nothing to measure."""

    p50: float | None = None
    p95: float | None = None


class DlqCounts(CollabModel):
    """Dead letters: ``size`` not yet retried, ``total`` all of them."""

    size: int
    total: int


class MetricsOverview(CollabModel):
    """The dashboard overview of ``metrics_overview_v1``."""

    generated_at: datetime
    by_status: Stats
    by_type: dict[str, dict[str, int]]
    finished: FinishedCounts
    queue_wait_ms: Percentiles
    run_time_ms: Percentiles
    dlq: DlqCounts
    active_workers: int


class JobCount(CollabModel):
    """How many jobs of one type are in one state on one executor."""

    executor_id: str
    type: str
    state: str
    count: int


class EngineCounts(CollabModel):
    """``metrics_by_executor_v1``: job counts by executor, type and state; dead letters not
    yet retried and active workers by executor (what ``/metrics`` exports)."""

    generated_at: datetime
    jobs: list[JobCount]
    dead_letters: dict[str, int]
    active_workers: dict[str, int]

    @classmethod
    def from_overview(cls, executor_id: str, overview: MetricsOverview) -> EngineCounts:
        """The same counts from one executor's ``metrics_overview_v1`` answer."""
        jobs = [JobCount(executor_id=executor_id, type=type_, state=state, count=count)
                for type_, states in sorted(overview.by_type.items())
                for state, count in sorted(states.items())]
        return cls(generated_at=overview.generated_at, jobs=jobs,
                   dead_letters={executor_id: overview.dlq.size},
                   active_workers={executor_id: overview.active_workers})

    def executors(self) -> list[str]:
        """Every executor these counts name, sorted."""
        named = {c.executor_id for c in self.jobs} | set(self.dead_letters) | set(self.active_workers)
        return sorted(named)
