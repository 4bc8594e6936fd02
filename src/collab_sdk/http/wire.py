"""The HTTP API's request and response bodies (pydantic), camelCase on the wire.

Request models validate what the seeds send (``{ type, executorId, payload?,
idempotencyKey? }`` …) before anything reaches the engine, with the engine's own limits
(docs/rpc.md) so that a bad body is a 422 naming the field, not a database round trip.
Response models that are not engine rows (``{ ok, timestamp }``, ``{ job }`` …) live
here too; rows come from ``collab_sdk.models``. The OpenAPI document is generated from
both (``collab_sdk.http.openapi``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (AliasChoices, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field,
                      Strict, StringConstraints)
from pydantic.alias_generators import to_camel

from collab_sdk.models import (Artifact, Assigned, DeadLetter, Job, JobEvent, JobStatus, Page,
                               Stats, ThroughputMinute, WorkerHeartbeat)

__all__ = [
    "Name", "Body", "Input", "ClientTime", "Query", "ErrorBody", "ErrorEnvelope", "Health", "AssignBody", "ClaimBody",
    "ArtifactIn", "ResultBody", "Ok", "ClaimAnswer", "JobAnswer", "HeartbeatBody",
    "HeartbeatAnswer", "RecentQuery", "ActiveQuery", "ExecutorQuery", "EventsQuery", "StreamQuery",
    "DlqListQuery", "DlqRetryBody", "SignQuery", "SignedUrl", "StatsAnswer", "ManagedJob",
    "Deleted", "PurgeQuery", "Purged", "CancelBody", "Items", "JobPage", "DeadLetterPage",
    "Assigned", "EventItems", "ArtifactItems", "WorkerItems", "ThroughputQuery", "ThroughputItems",
]

#: The engine's names: type, executorId, workerId (docs/rpc.md, Limits).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@/+-]{0,199}$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Text = Annotated[str, StringConstraints(max_length=16384)]


#: Integers and booleans of JSON bodies, as strict as the OpenAPI schema: no true for 1, no "3".
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]


class Body(BaseModel):
    """A request body: camelCase (snake_case accepted too), unknown keys ignored."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True,
                              validate_by_alias=True, serialize_by_alias=True, extra="ignore",
                              str_strip_whitespace=False)


class Input(Body):
    """A request body: like ``Body``, but an unknown key is refused (422 naming it), so
    a misspelt field (``maxAttempt``) never silently falls back to a default."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True,
                              validate_by_alias=True, serialize_by_alias=True, extra="forbid",
                              str_strip_whitespace=False)


def _rfc3339_only(value: Any) -> Any:
    if value is not None and not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string with a time zone "
                         "(e.g. 2026-12-01T09:00:00Z), not a number")
    return value


#: A time given by a client: an RFC 3339 string with its offset, never epoch seconds.
ClientTime = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only)]


class Query(Body):
    """Query-string parameters (values arrive as strings; pydantic converts them)."""


class ErrorBody(Body):
    """The error: a stable `code` and a human `message` (and `errors`, each problem in
    words, when the engine listed several)."""

    code: str = Field(description="a stable, machine-readable code (e.g. `not_found`, `lease_lost`)")
    message: str
    errors: list[str] | None = Field(default=None, description="each problem, when there are several "
                                     "(a definition that cannot be published, a run input)")


class ErrorEnvelope(Body):
    """Every failure: `{ "error": { "code", "message" } }`."""

    error: ErrorBody


class Health(Body):
    """`GET health`: the process answers."""

    ok: bool
    timestamp: datetime


class AssignBody(Input):
    """`POST task.assign`: enqueue one job (`X-Idempotency-Key` may carry the key)."""

    type: Name
    executor_id: Name
    payload: dict[str, Any] | None = None
    idempotency_key: Key | None = None
    priority: Int | None = Field(default=None, ge=-32768, le=32767)
    max_attempts: Int | None = Field(default=None, ge=1, le=1000)
    run_at: ClientTime | None = Field(default=None, description="RFC 3339 with a UTC offset")


class ClaimBody(Input):
    """`POST task.claim`: lease the next due job of the executor."""

    executor_id: Name
    worker_id: Name
    lease_seconds: Int | None = Field(default=None, ge=1, le=86400)
    type_prefix: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


class ArtifactIn(Input):
    """An artifact row recorded with a successful result (metadata only)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    path: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    bucket: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")] | None = None
    size: Int | None = Field(default=None, ge=0, le=2**53)
    mime: Annotated[str, StringConstraints(max_length=255)] | None = None
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    url: Annotated[str, StringConstraints(max_length=4096)] | None = None


class ResultBody(Input):
    """`POST task.result`: `ok=true` completes the job, `ok=false` fails it (retry with
    backoff while attempts remain, else the DLQ). `workerId`/`attempt` fence the call;
    without them the job's current lease holder and attempt are used (the seeds' body)."""

    job_id: UUID
    type: Name | None = None
    ok: Bool
    result: Any = None
    error: Text | None = None
    retryable: Bool | None = None
    retry_delay_seconds: Int | None = Field(default=None, ge=0, le=604800)
    artifact: ArtifactIn | None = None
    artifacts: list[ArtifactIn] | None = Field(default=None, max_length=1000)
    worker_id: Name | None = None
    attempt: Int | None = Field(default=None, ge=1, le=1000)


class Ok(Body):
    """`{ ok: true }`."""

    ok: Literal[True] = True


class ClaimAnswer(Body):
    """`task.claim`'s answer: the leased job, or null when none is due."""

    job: Job | None


class JobAnswer(Body):
    """`{ job }`."""

    job: Job


class HeartbeatBody(Input):
    """`POST workers/heartbeat`: upsert the worker's presence row (send the full state)."""

    worker_id: Name = Field(validation_alias=AliasChoices("workerId", "worker_id", "agentId"))
    executor_id: Name
    status: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,31}$")] | None = None
    version: Annotated[str, StringConstraints(max_length=100)] | None = None
    capacity: Int | None = Field(default=None, ge=0, le=100000)
    running: Int | None = Field(default=None, ge=0, le=100000)
    metadata: dict[str, Any] | None = None


class HeartbeatAnswer(Body):
    """`workers/heartbeat`'s answer: the stored presence row."""

    ok: Literal[True] = True
    worker: WorkerHeartbeat


class ExecutorQuery(Query):
    """An optional `executorId` filter."""

    executor_id: Name | None = None


class RecentQuery(ExecutorQuery):
    """`jobs/recent`: newest first; pass `nextCursor` back as `cursor` (never `null`)."""

    limit: int | None = Field(default=None, ge=1, le=1000)
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    status: JobStatus | None = None
    type: Name | None = None


class ActiveQuery(ExecutorQuery):
    """`workers/active`: workers seen in the last `withinSeconds` (default 20)."""

    within_seconds: int | None = Field(default=None, ge=1, le=86400)


class EventsQuery(Query):
    """`events/by-job/:id`: events after `afterSeq`, at most `limit`."""

    after_seq: int | None = Field(default=None, ge=0, le=2**62)
    limit: int | None = Field(default=None, ge=1, le=10000)


class StreamQuery(ExecutorQuery):
    """`events/stream` and `events/ws`: one job's or one executor's events after `since`."""

    job_id: UUID | None = None
    since: int | None = Field(default=None, ge=0, le=2**62,
                              description="resume after this seq (`Last-Event-ID` wins when later)")
    timeout: int | None = Field(default=None, ge=1, le=3600,
                                description="close the stream after this many seconds (default 300); "
                                            "clients reconnect with `Last-Event-ID`")


class DlqListQuery(ExecutorQuery):
    """`dlq`: dead letters newest first, paged by `cursor`."""

    limit: int | None = Field(default=None, ge=1, le=1000)
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    include_retried: bool | None = None


class DlqRetryBody(Input):
    """`dlq/retry`: the dead letter to re-enqueue."""

    dlq_id: UUID = Field(validation_alias=AliasChoices("dlqId", "dlq_id", "id"))


class SignQuery(Query):
    """`sign-artifact`: `expires` is 60–86400 seconds (default 3600)."""

    bucket: Annotated[str, StringConstraints(min_length=1, max_length=63)] = "artifacts"
    path: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    expires: int = Field(default=3600, ge=60, le=86400)


class SignedUrl(Body):
    """`sign-artifact`'s answer: a short-lived download URL."""

    signed_url: str
    expires_in: int
    bucket: str
    path: str


class StatsAnswer(Body):
    """`{ stats }`: job counts by status."""

    stats: Stats


class ManagedJob(Body):
    """A management call's answer: `{ success, job }`."""

    success: Literal[True] = True
    job: Job


class CancelBody(Input):
    """`job/:id/cancel`: an optional reason."""

    reason: Text | None = None


class Deleted(Body):
    """`DELETE job/:id`'s answer: the deleted job's id."""

    success: Literal[True] = True
    deleted: UUID


_FINISHED = "(succeeded|failed|cancelled)"
_STATUSES = rf"^{_FINISHED}(,{_FINISHED})*$"


class PurgeQuery(ExecutorQuery):
    """`DELETE jobs`: which finished jobs, older than what."""

    older_than_seconds: int | None = Field(default=None, ge=0, le=2147483647)
    statuses: Annotated[str, StringConstraints(pattern=_STATUSES)] | None = Field(
        default=None, description="comma-separated: succeeded, failed, cancelled (default succeeded)")


class Purged(Body):
    """`DELETE jobs`' answer: how many were deleted."""

    success: Literal[True] = True
    purged: int


class EventItems(Body):
    """`{ items, count }` of events."""

    items: list[JobEvent]
    count: int


class ArtifactItems(Body):
    """`{ items, count }` of artifact rows."""

    items: list[Artifact]
    count: int


class ThroughputQuery(ExecutorQuery):
    """`metrics/throughput`: how many minutes back (1-120, default 60)."""

    minutes: int = Field(default=60, ge=1, le=120)


class ThroughputItems(Body):
    """`{ items, count }`: succeeded and failed jobs per minute, oldest first, the
    current minute last, zeros included."""

    items: list[ThroughputMinute]
    count: int


class WorkerItems(Body):
    """`{ items, count }` of worker presence rows."""

    items: list[WorkerHeartbeat]
    count: int


Items = EventItems | ArtifactItems | WorkerItems


def _page(model: type[Any]) -> Any:
    # Parametrized inside a function: pydantic then does not add ``Page[Job]`` to this
    # module's namespace as a name of its own.
    return Page[model]  # type: ignore[valid-type]


JobPage = _page(Job)
JobPage.__doc__ = "A page of jobs: `{ items, count, nextCursor }`."
DeadLetterPage = _page(DeadLetter)
DeadLetterPage.__doc__ = "A page of dead letters: `{ items, count, nextCursor }`."
