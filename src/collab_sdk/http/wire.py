"""The HTTP API's request and response bodies (pydantic), camelCase on the wire.

Request models validate what the seeds send (``{ type, executorId, payload?,
idempotencyKey? }`` …) before anything reaches the engine, with the engine's own limits
(docs/rpc.md) so that a bad body is a 422 naming the field, not a database round trip.
Response models that are not engine rows (``{ ok, timestamp }``, ``{ job }`` …) live
here too; rows come from ``collab_sdk.models``. The OpenAPI document is generated from
both (``collab_sdk.http.openapi``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from annotated_types import Interval
from pydantic import (AliasChoices, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field,
                      Strict, StringConstraints)
from pydantic.alias_generators import to_camel

from collab_sdk.models import (Artifact, Assigned, DeadLetter, Job, JobEvent, JobStatus, Page,
                               Stats, ThroughputMinute, WorkerHeartbeat)

__all__ = [
    "Name", "Body", "Input", "ClientTime", "RUN_AT_DESCRIPTION", "Query", "ErrorBody", "ErrorEnvelope", "Health", "AssignBody", "ClaimBody",
    "ArtifactIn", "ResultBody", "Ok", "ClaimAnswer", "JobAnswer", "HeartbeatBody",
    "HeartbeatAnswer", "RecentQuery", "ActiveQuery", "ExecutorQuery", "EventsQuery", "StreamQuery",
    "DlqListQuery", "DlqRetryBody", "SignQuery", "SignedUrl", "StreamEnd", "StreamDropped",
    "SSE_EVENTS", "Cursor", "CURSOR_PATTERN", "ARTIFACT_PATH_PATTERN", "BUCKET_PATTERN",
    "DATE_PATTERN", "TIME_PATTERN", "OFFSET_PATTERN", "UUID_PATTERN", "Key", "Text", "Int", "Bool",
    "Priority", "Attempts", "LeaseSeconds", "DelaySeconds", "ByteSize", "Capacity", "StatsAnswer", "ManagedJob",
    "Deleted", "PurgeQuery", "Purged", "CancelBody", "Items", "JobPage", "DeadLetterPage",
    "Assigned", "EventItems", "ArtifactItems", "WorkerItems", "ThroughputQuery", "ThroughputItems",
]

#: The engine's names: type, executorId, workerId (docs/rpc.md, Limits).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@/+-]{0,199}$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Text = Annotated[str, StringConstraints(max_length=16384)]

# A cursor is a timestamp and a row id. Its pattern admits only what parses, so a
# well-formed cursor is never refused: real calendar dates (Feb 29 in leap years only),
# years 1000-9999, times without leap seconds.
_LEAP = r"(?:[1-9]\d(?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[13579][26])00)"
DATE_PATTERN = (r"(?:[1-9]\d{3}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])"
                r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)|" + _LEAP + r"-02-29)")
TIME_PATTERN = r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
OFFSET_PATTERN = r"(?:Z|[+-](?:0\d|1[0-4]):[0-5]\d)"
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
#: ``nextCursor`` (``<created_at>~<id>``), or a timestamp alone: the page after it.
CURSOR_PATTERN = (rf"^{DATE_PATTERN}(?:T{TIME_PATTERN}{OFFSET_PATTERN}?)?(?:~{UUID_PATTERN})?$")
Cursor = Annotated[str, StringConstraints(pattern=CURSOR_PATTERN, max_length=200)]
#: An artifact's object path: ``<executor>/<job id>/<name…>``, relative, each segment
#: neither empty, ``.`` nor ``..``, without ``\`` or control characters.
_SEGMENT = r"(?:[^/\\\x00-\x1f.][^/\\\x00-\x1f]*|\.[^/\\\x00-\x1f.][^/\\\x00-\x1f]*|\.\.[^/\\\x00-\x1f]+)"
ARTIFACT_PATH_PATTERN = rf"^{_SEGMENT}/{_SEGMENT}/{_SEGMENT}(?:/{_SEGMENT})*$"
BUCKET_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"


def _integral(value: Any) -> Any:
    # JSON Schema's `integer` is any number whose fraction is zero: 3.0 is 3.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: JSON Schema's reading of an integer in a body: 3 and 3.0 are 3; true and "3" are none.
#: The bounds sit inside each type (not on the field) so the document shows them as
#: minimum/maximum: pydantic cannot render a field's bounds past a validator.
_JSON_INT = BeforeValidator(_integral)
Int = Annotated[int, Strict(), _JSON_INT]
Priority = Annotated[int, Strict(), Interval(ge=-32768, le=32767), _JSON_INT]
Attempts = Annotated[int, Strict(), Interval(ge=1, le=1000), _JSON_INT]
LeaseSeconds = Annotated[int, Strict(), Interval(ge=1, le=86400), _JSON_INT]
DelaySeconds = Annotated[int, Strict(), Interval(ge=0, le=604800), _JSON_INT]
ByteSize = Annotated[int, Strict(), Interval(ge=0, le=2**53), _JSON_INT]
Capacity = Annotated[int, Strict(), Interval(ge=0, le=100000), _JSON_INT]
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


_RFC3339_START = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]")


def _rfc3339_only(value: Any) -> Any:
    # pydantic would read a number, or a query string's "0.5", as epoch seconds.
    if value is not None and not (isinstance(value, str) and _RFC3339_START.match(value)):
        raise ValueError("must be an RFC 3339 date-time string with a time zone "
                         "(e.g. 2026-12-01T09:00:00Z), not a number")
    return value


#: The engine's bound on ``runAt`` (docs/rpc.md, Limits): it moves with the clock, so no
#: schema keyword can state it; the description does.
RUN_AT_DESCRIPTION = "RFC 3339 with a UTC offset, from 2000-01-01 to one year from now (else 400)"
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
    priority: Priority | None = None
    max_attempts: Attempts | None = None
    run_at: ClientTime | None = Field(default=None, description=RUN_AT_DESCRIPTION)


class ClaimBody(Input):
    """`POST task.claim`: lease the next due job of the executor."""

    executor_id: Name
    worker_id: Name
    lease_seconds: LeaseSeconds | None = None
    type_prefix: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


class ArtifactIn(Input):
    """An artifact row recorded with a successful result (metadata only)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    path: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    bucket: Annotated[str, StringConstraints(pattern=BUCKET_PATTERN)] | None = None
    size: ByteSize | None = None
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
    retry_delay_seconds: DelaySeconds | None = None
    artifact: ArtifactIn | None = None
    artifacts: list[ArtifactIn] | None = Field(default=None, max_length=1000)
    worker_id: Name | None = None
    attempt: Attempts | None = None


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
    capacity: Capacity | None = None
    running: Capacity | None = None
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
    cursor: Cursor | None = None
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
    """`events/stream` and `events/ws`: the events after `since` of one job (`jobId`; with
    `executorId` too, the job must be of that executor), of one executor (`executorId`), or
    every event the caller may read (neither)."""

    job_id: UUID | None = None
    since: int | None = Field(default=None, ge=0, le=2**62,
                              description="resume after this seq (`Last-Event-ID` wins when later)")
    timeout: int | None = Field(default=None, ge=1, le=3600,
                                description="close the stream after this many seconds (default 300); "
                                            "clients reconnect with `Last-Event-ID`")


class DlqListQuery(ExecutorQuery):
    """`dlq`: dead letters newest first, paged by `cursor`."""

    limit: int | None = Field(default=None, ge=1, le=1000)
    cursor: Cursor | None = None
    include_retried: bool | None = None


class DlqRetryBody(Input):
    """`dlq/retry`: the dead letter to re-enqueue."""

    dlq_id: UUID = Field(validation_alias=AliasChoices("dlqId", "dlq_id", "id"))


class SignQuery(Query):
    """`sign-artifact`: `expires` is 60–86400 seconds (default 3600)."""

    bucket: Annotated[str, StringConstraints(pattern=BUCKET_PATTERN)] = Field(
        default="artifacts", description="one of the server's signable buckets (else 403)")
    path: Annotated[str, StringConstraints(pattern=ARTIFACT_PATH_PATTERN, max_length=1024)] = Field(
        description="`<executor>/<job id>/<name>` as the job's artifact row has it")
    expires: int = Field(default=3600, ge=60, le=86400)


class StreamEnd(Body):
    """`events/stream`'s `end` event: the job's final event was sent (`{}`), or the server
    is shutting down."""


class StreamDropped(Body):
    """`events/stream`'s `dropped` event: the client read too slowly; it reconnects with
    `Last-Event-ID`."""

    reason: Literal["slow_consumer"]


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


#: The Server-Sent Events of `events/stream` by `event:` name, each with its `data` model
#: (`message`, the default, carries one event with its seq as `id`).
SSE_EVENTS: dict[str, type[BaseModel]] = {"message": JobEvent, "end": StreamEnd,
                                          "dropped": StreamDropped, "error": ErrorEnvelope}
