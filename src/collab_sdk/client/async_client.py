"""``AsyncCollabClient``: one typed method per collab RPC, over any ``Transport``.

The client holds no queue logic. Each method turns its arguments into the RPC's named
arguments (leaving out those not given, so the SQL defaults apply), calls the transport
and validates the answer into a model. On first use it checks ``collab.schema_version()``
and refuses a schema it does not understand. ``CollabClient`` (``collab_sdk.client.sync``) is
the blocking face of this same class.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import EllipsisType, TracebackType
from typing import Any, NamedTuple, cast
from uuid import UUID

from pydantic_core import PydanticSerializationError, to_json
from typing_extensions import Self, TypedDict, TypeVar

from collab_sdk.models import (Artifact, Assigned, BulkAction, BulkResult, ClaimedJob, DeadLetter,
                               EngineCounts, Job, JobEvent, JobSnapshot, JobSpec, JobSummary, Membership,
                               MetricsOverview, Page, RetentionBatch, RetentionPolicy, Stats, ThroughputMinute,
                               WorkerHeartbeat)
from collab_sdk.client.retention import (DEFAULT_BATCH_SIZE, DEFAULT_RUN_BATCH_SIZE, apply_retention_pass,
                                         purge_in_batches, purge_runs_in_batches, remove_deleted_objects)
from collab_sdk.client.artifacts import DEFAULT_BUCKET, sign_artifact, upload_artifact
from collab_sdk.transports.storage import Storage
from collab_sdk.client.rpc import SUPPORTED_SCHEMA_VERSIONS, RpcCore, parse_input
from collab_sdk.client.workflows import AsyncWorkflows
from collab_sdk.client.streams import (EventStream, job_filter, live_source_for, read_settled,
                                       watch_events)
from collab_sdk.errors import ConfigurationError, ValidationError
from collab_sdk.tracing import active as tracing_active, enqueue_span
from collab_sdk.transports.base import (ActsAsRole, ActsAsUser, CapsRows, EventFilter, HasLanes, JsonText,
                                       LiveSource, Transport)

__all__ = ["AsyncCollabClient", "ClaimedBatch"]

T = TypeVar("T", default=dict[str, Any])
I = TypeVar("I")


def _chunks(items: Sequence[I], size: int | None) -> list[Sequence[I]]:
    """``items`` in consecutive slices of at most ``size`` (None: one slice); an empty
    input is one empty slice, so the RPC still runs once."""
    if size is None or len(items) <= size:
        return [items]
    return [items[start:start + size] for start in range(0, len(items), size)]


#: The ``JobSpec`` fields a plain dict may carry and still skip the model (``_job_args``).
_PLAIN_JOB_KEYS = frozenset({"type", "executor_id", "payload", "idempotency_key", "priority", "max_attempts"})


def _job_args(job: JobSpec | Mapping[str, Any]) -> Mapping[str, Any]:
    """``job`` as the engine reads ``JobSpec(...).rpc_args()``. A plain dict with
    snake_case keys whose values already have the exact types (str, int, a dict with str
    keys, None for an unset optional) is sent as it is: no model, no copy (building and
    dumping a model was two thirds of ``assign_many``'s own CPU per job, and every copy
    kept alive through the call is work for the garbage collector). The engine reads a
    JSON null or a missing key as unset, and a missing payload as ``{}``, as the model's
    answer says. Anything else goes through ``JobSpec``, and so fails with the same
    ``ValidationError``. The payload's values are serialised with the batch
    (``_batch_json``), as ``model_dump`` would."""
    if type(job) is dict and job.keys() <= _PLAIN_JOB_KEYS \
            and type(job.get("type")) is str and type(job.get("executor_id")) is str:
        payload, idempotency_key, priority, max_attempts = (
            job.get("payload", _NO_PAYLOAD), job.get("idempotency_key"), job.get("priority"), job.get("max_attempts"))
        if (payload is _NO_PAYLOAD or (type(payload) is dict and all(type(key) is str for key in payload))) \
                and (idempotency_key is None or type(idempotency_key) is str) \
                and (priority is None or type(priority) is int) \
                and (max_attempts is None or type(max_attempts) is int):
            return job
    spec = job if isinstance(job, JobSpec) else parse_input(JobSpec, job)
    try:
        return spec.rpc_args()
    except PydanticSerializationError as exc:  # a payload value JSON cannot hold, as in assign
        raise ValidationError(f"an argument is not JSON-serialisable: {exc}", code="CL400") from exc


_NO_PAYLOAD: dict[str, Any] = {}  # "no payload key" (the engine stores {})


def _batch_json(rows: Sequence[Mapping[str, Any]]) -> JsonText:
    """The rows (jobs, completions) as one JSON array, each value as ``RpcCore`` would
    make it JSON-ready (``to_jsonable_python`` and ``to_json`` share pydantic's
    serialiser; NaN and the infinities stay the tokens ``json.dumps`` writes, which the
    engine refuses), in one pass instead of a JSON-ready copy dumped by ``json.dumps``."""
    try:
        return JsonText(to_json(rows, inf_nan_mode="constants"))
    except PydanticSerializationError as exc:
        raise ValidationError(f"an argument is not JSON-serialisable: {exc}", code="CL400") from exc


def _span_names(args: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """The type and executor a batch's ``collab.enqueue`` span is named by: the one of all
    its jobs, else ``batch`` / ``many`` (not looked at while tracing is off)."""
    if not tracing_active():
        return "batch", "many"
    types, executors = {a["type"] for a in args}, {a["executor_id"] for a in args}
    return (types.pop() if len(types) == 1 else "batch"), (executors.pop() if len(executors) == 1 else "many")


class ClaimedBatch(NamedTuple):
    """``complete_and_claim_many``'s answer: the completions left out (their lease was
    lost) and the jobs claimed, in claim order."""

    lost: set[UUID]
    jobs: list[ClaimedJob]


class _ClaimedBatchAnswer(TypedDict):
    """``complete_and_claim_jobs_v1``'s JSON object, validated in one pass."""

    lost: set[UUID]
    jobs: list[ClaimedJob]


class AsyncCollabClient:
    """The async collab client. ``async with AsyncCollabClient(transport) as client:``
    checks the schema version on entry and closes the transport on exit."""

    def __init__(self, transport: Transport, *, storage: Storage | None = None,
                 check_schema: bool = True) -> None:
        self.transport = transport
        #: The RPC core this client, its streams and its artifacts call through.
        self.rpc = RpcCore(transport, check_schema=check_schema)
        #: Where ``upload_artifact`` stores bytes (None: artifacts rows only).
        self.storage = storage
        self._owns_storage = True

    @classmethod
    def from_url(cls, url: str, *, role: str | None = None,
                 claims: Mapping[str, Any] | None = None, max_size: int = 10,
                 storage: Storage | None = None) -> AsyncCollabClient:
        """A client over ``PostgresTransport(url)``, optionally acting as ``role``."""
        from collab_sdk.transports.postgres import PostgresTransport
        return cls(PostgresTransport(url, role=role, claims=claims, max_size=max_size), storage=storage)

    @classmethod
    def from_env(cls) -> AsyncCollabClient:
        """The client the environment asks for (see ``collab_sdk.client.config``)."""
        from collab_sdk.client.config import transport_from_env, storage_for
        transport = transport_from_env()
        return cls(transport, storage=storage_for(transport))

    def acting_as(self, role: str, claims: Mapping[str, Any] | None = None) -> AsyncCollabClient:
        """A client over the same connections acting as ``role`` with these JWT claims
        (e.g. an HTTP request's caller): RLS and membership checks apply to it. Only a
        transport that ``ActsAsRole`` (``PostgresTransport``) supports it; closing the
        returned client leaves the shared pool open."""
        if not isinstance(self.transport, ActsAsRole):
            raise ConfigurationError(f"{type(self.transport).__name__} cannot act as another role: "
                                     "use a PostgreSQL URL (COLLAB_DATABASE_URL)")
        return self._view(self.transport.as_role(role, claims))

    def acting_for(self, access_token: str) -> AsyncCollabClient:
        """A client over the same connections acting as the user of ``access_token``
        (an HTTP request's verified bearer token), for a transport that ``ActsAsUser``
        (``SupabaseTransport``): the token goes to PostgREST with every call, so RLS and
        membership checks apply to its user (artifact bytes use this client's storage,
        as with ``acting_as``: the job is read as the user first). Closing the returned
        client leaves the shared pool open."""
        if not isinstance(self.transport, ActsAsUser):
            raise ConfigurationError(f"{type(self.transport).__name__} cannot act for a user's "
                                     "access token: use SupabaseTransport (SUPABASE_URL)")
        return self._view(self.transport.as_user(access_token))

    @asynccontextmanager
    async def lane(self) -> AsyncIterator[AsyncCollabClient]:
        """``async with client.lane() as calls:`` a client whose calls, one at a time,
        all use one connection kept between them (``HasLanes``: ``PostgresTransport``),
        so they run on one database backend whose caches stay warm (a worker's claim
        loop); leaving the block gives the connection back. Over a transport without
        connections of its own (``SupabaseTransport``) it is this client."""
        if not isinstance(self.transport, HasLanes):
            yield self
            return
        view = self._view(self.transport.lane())
        try:
            yield view
        finally:
            await view.transport.aclose()

    def _view(self, transport: Transport) -> AsyncCollabClient:
        """A client over ``transport`` (a view of this one's), sharing the schema check
        and the storage (which it does not close)."""
        view = AsyncCollabClient(transport, storage=self.storage)
        view.rpc = self.rpc.view(transport)
        view._owns_storage = False
        return view

    @property
    def workflows(self) -> AsyncWorkflows:
        """The workflow methods: definitions, the step catalog, runs, schedules, webhooks
        (``collab_sdk.client.workflows``)."""
        return AsyncWorkflows(self.rpc, lambda: live_source_for(self.transport))

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def connect(self) -> None:
        """Check the database's schema version now rather than on the first call."""
        await self.rpc.connect()

    async def aclose(self) -> None:
        """Close the transport's connections and the storage session."""
        await self.transport.aclose()
        if self.storage is not None and self._owns_storage:
            await self.storage.aclose()

    # -- enqueue -------------------------------------------------------------------

    async def assign(self, type: str, *, executor_id: str, payload: Mapping[str, Any] | None = None,
                     idempotency_key: str | None = None, priority: int | None = None,
                     max_attempts: int | None = None, run_at: datetime | None = None) -> Assigned:
        """Enqueue one job. With an ``idempotency_key`` already used in this executor,
        returns that job with ``queued=False`` (a different type/payload is a ``Conflict``).
        While OpenTelemetry is active (``collab_sdk.tracing``) it runs in a
        ``collab.enqueue`` span whose context the job carries (``assign_job_v2``)."""
        with enqueue_span(type, executor_id) as trace_context:
            return await self.rpc.one(Assigned, "assign_job_v1" if trace_context is None else "assign_job_v2",
                                      type=type, executor_id=executor_id, payload=payload,
                                      idempotency_key=idempotency_key, priority=priority,
                                      max_attempts=max_attempts, run_at=run_at, trace_context=trace_context)

    @property
    def max_rows(self) -> int | None:
        """The most rows one answer of the transport can hold (``CapsRows``; None: no cap)."""
        return self.transport.max_rows if isinstance(self.transport, CapsRows) else None

    async def assign_many(self, jobs: Iterable[JobSpec | Mapping[str, Any]]) -> list[Assigned]:
        """Enqueue up to 10,000 jobs in one transaction; answers in input order.

        Over a transport that caps its answers (``CapsRows``: ``SupabaseTransport``, whose
        PostgREST cuts results at ``max_rows``) the jobs go in chunks of ``max_rows``, one
        transaction each: if a later chunk fails, the earlier ones stay enqueued (give
        jobs idempotency keys to send the whole batch again safely). While OpenTelemetry
        is active, one ``collab.enqueue`` span covers the batch and every job carries its
        context (``assign_jobs_v2``)."""
        args = [_job_args(job) for job in jobs]
        answers: list[Assigned] = []
        with enqueue_span(*_span_names(args), len(args)) as trace_context:
            if trace_context is not None:
                args = [{**a, "trace_context": trace_context} for a in args]
            fn = "assign_jobs_v1" if trace_context is None else "assign_jobs_v2"
            for chunk in _chunks(args, self.max_rows):
                answers += await self.rpc.many(Assigned, fn, jobs=_batch_json(chunk))
        return answers

    # -- claim and results (fenced by worker_id and the lease) ---------------------

    async def claim(self, executor_id: str, worker_id: str, *, lease_seconds: int | None = None,
                    type_prefix: str | None = None) -> Job | None:
        """Lease the next due job of ``executor_id`` (optionally of types starting with
        ``type_prefix``), or None when there is none. ``job.with_payload(Model)`` types
        its payload (a claim never fails on a payload, so the job is never stranded)."""
        return await self.rpc.maybe_one(Job, "claim_one_job_v3", executor_id=executor_id,
                                        worker_id=worker_id, lease_seconds=lease_seconds,
                                        type_prefix=type_prefix)

    async def claim_many(self, executor_id: str, worker_id: str, *, max_jobs: int | None = None,
                         lease_seconds: int | None = None, type_prefixes: Sequence[str] | None = None,
                         types: Sequence[str] | None = None,
                         alone: bool | None = None) -> list[ClaimedJob]:
        """Lease up to ``max_jobs`` due jobs (default 10) in one statement; never more than
        the transport's ``max_rows`` (a cut answer would strand the leased jobs it lost).

        ``alone`` (schema 4, ``claim_jobs_v2``) asks for crash isolation: say True when the
        caller runs no job now, False when it does. A job whose lease expired (its worker
        died) is then handed out only to a caller that runs nothing, alone
        (``ClaimedJob.solo``), and a busy caller stops before such a job; None claims
        without isolation (``claim_jobs_v1``). See docs/worker.md."""
        cap = self.max_rows
        if cap is not None and max_jobs is not None:
            max_jobs = min(max_jobs, cap)
        if alone is None:
            return await self.rpc.many(ClaimedJob, "claim_jobs_v1", executor_id=executor_id,
                                       worker_id=worker_id, max_jobs=max_jobs, lease_seconds=lease_seconds,
                                       type_prefixes=type_prefixes, types=types)
        return await self.rpc.many(ClaimedJob, "claim_jobs_v2", executor_id=executor_id, worker_id=worker_id,
                                   max_jobs=max_jobs, lease_seconds=lease_seconds,
                                   type_prefixes=type_prefixes, types=types, alone=alone)

    async def complete(self, job_id: UUID | str, worker_id: str, *, result: Any = None,
                       artifacts: Sequence[Mapping[str, Any]] | None = None,
                       attempt: int | None = None) -> Job:
        """Mark a leased job succeeded with ``result`` (and artifact rows). A replay by the
        same worker returns the stored job; a lost lease raises ``LeaseLost``."""
        return await self.rpc.one(Job, "complete_job_v1", job_id=job_id, worker_id=worker_id,
                               result=result, artifacts=artifacts, attempt=attempt)

    async def complete_id(self, job_id: UUID | str, worker_id: str, *, result: Any = None,
                          artifacts: Sequence[Mapping[str, Any]] | None = None,
                          attempt: int | None = None) -> UUID:
        """``complete``, answering only the job's id: no row is sent back or parsed (for
        a caller that needs none, such as the HTTP ``task.result``)."""
        return await self.rpc.one_id("complete_job_v1", job_id=job_id, worker_id=worker_id,
                                     result=result, artifacts=artifacts, attempt=attempt)

    async def complete_and_claim(self, job_id: UUID | str, worker_id: str, *, executor_id: str,
                                 result: Any = None,
                                 artifacts: Sequence[Mapping[str, Any]] | None = None,
                                 attempt: int | None = None, lease_seconds: int | None = None,
                                 type_prefix: str | None = None) -> Job | None:
        """``complete`` then ``claim`` in one call and one transaction: half the round
        trips and commits for a worker taking one job at a time. Returns the next job
        (or None); a lost lease raises ``LeaseLost`` and claims nothing. Needs schema 3:
        on schema 2 it raises ``SchemaMismatch``."""
        return await self.rpc.maybe_one(Job, "complete_and_claim_v1", job_id=job_id,
                                        worker_id=worker_id, executor_id=executor_id,
                                        result=result, artifacts=artifacts, attempt=attempt,
                                        lease_seconds=lease_seconds, type_prefix=type_prefix)

    async def complete_many(self, worker_id: str,
                            completions: Iterable[Mapping[str, Any]]) -> list[Job]:
        """Complete many leased jobs in one transaction: ``[{job_id, result?, attempt?}]``.
        Jobs the worker no longer holds are left out of the answer, not raised. Over a
        ``CapsRows`` transport they go in chunks of ``max_rows``, one transaction each."""
        done: list[Job] = []
        for chunk in _chunks(list(completions), self.max_rows):
            done += await self.rpc.many(Job, "complete_jobs_v1", worker_id=worker_id,
                                        completions=list(chunk))
        return done

    async def complete_many_ids(self, worker_id: str,
                                completions: Iterable[Mapping[str, Any]]) -> set[UUID]:
        """``complete_many``, answering only the ids of the jobs completed: no rows are
        sent back or parsed (the worker's completion batches use it)."""
        done: set[UUID] = set()
        for chunk in _chunks(list(completions), self.max_rows):
            ids = await self.rpc.column("complete_jobs_v1", "id", worker_id=worker_id,
                                        completions=list(chunk))
            done.update(i if isinstance(i, UUID) else UUID(i) for i in ids)
        return done

    async def complete_and_claim_many(self, executor_id: str, worker_id: str,
                                      completions: Iterable[Mapping[str, Any]] = (), *,
                                      max_jobs: int | None = None, lease_seconds: int | None = None,
                                      type_prefixes: Sequence[str] | None = None,
                                      types: Sequence[str] | None = None,
                                      alone: bool = False) -> ClaimedBatch:
        """``complete_many`` then ``claim_many`` in one call and one transaction
        (``complete_and_claim_jobs_v1``): ``[{job_id, result?, attempt?}]`` are completed,
        then up to ``max_jobs`` (default 10; 0 claims nothing) are claimed as
        ``claim_many(alone=...)`` does. The answer is one JSON object, read in one pass
        (``RpcCore.value_json``: validated from its text where the transport gives it;
        the worker's claims use it): the completions left out (``lost``: the worker no
        longer holds them) and the claimed jobs. An error rolls back both parts. Up to
        1,000 completions per call; not chunked, and not capped by ``max_rows`` (the
        answer is one value). On a database without the function it raises
        ``SchemaMismatch``."""
        parsed = await self.rpc.value_json(_ClaimedBatchAnswer, "complete_and_claim_jobs_v1",
                                           executor_id=executor_id, worker_id=worker_id,
                                           completions=_batch_json(list(completions)), max_jobs=max_jobs,
                                           lease_seconds=lease_seconds, type_prefixes=type_prefixes,
                                           types=types, alone=alone)
        return ClaimedBatch(parsed["lost"], parsed["jobs"])

    async def fail(self, job_id: UUID | str, worker_id: str, *, error: str | None = None,
                   retryable: bool | None = None, retry_delay_seconds: int | None = None,
                   attempt: int | None = None) -> Job:
        """Fail a leased job: re-queued with backoff while attempts remain and
        ``retryable``, else ``failed`` with a dead letter."""
        return await self.rpc.one(Job, "fail_job_v1", job_id=job_id, worker_id=worker_id, error=error,
                               retryable=retryable, retry_delay_seconds=retry_delay_seconds,
                               attempt=attempt)

    async def fail_id(self, job_id: UUID | str, worker_id: str, *, error: str | None = None,
                      retryable: bool | None = None, retry_delay_seconds: int | None = None,
                      attempt: int | None = None) -> UUID:
        """``fail``, answering only the job's id: no row is sent back or parsed."""
        return await self.rpc.one_id("fail_job_v1", job_id=job_id, worker_id=worker_id, error=error,
                                     retryable=retryable, retry_delay_seconds=retry_delay_seconds,
                                     attempt=attempt)

    async def extend_lease(self, job_id: UUID | str, worker_id: str, *,
                           lease_seconds: int | None = None, attempt: int | None = None) -> Job:
        """Set the lease to now + ``lease_seconds`` (default 60) while still held."""
        return await self.rpc.one(Job, "extend_lease_v1", job_id=job_id, worker_id=worker_id,
                               lease_seconds=lease_seconds, attempt=attempt)

    async def progress(self, job_id: UUID | str, worker_id: str,
                       payload: Mapping[str, Any] | None = None, *, event_type: str | None = None,
                       attempt: int | None = None) -> JobEvent:
        """Append a ``progress`` (or ``log``) event to a leased job's log."""
        return await self.rpc.one(JobEvent, "append_job_event_v1", job_id=job_id, worker_id=worker_id,
                               payload=payload, event_type=event_type, attempt=attempt)

    async def add_artifacts(self, job_id: UUID | str, artifacts: Sequence[Mapping[str, Any]], *,
                            worker_id: str | None = None) -> list[Artifact]:
        """Record artifact rows (metadata only); all the job's artifacts are returned."""
        return await self.rpc.many(Artifact, "add_artifacts_v1", job_id=job_id,
                                artifacts=list(artifacts), worker_id=worker_id)

    async def upload_artifact(self, job_id: UUID | str, name: str, data: bytes | None = None, *,
                              file: str | Path | None = None, mime: str | None = None,
                              bucket: str = DEFAULT_BUCKET, worker_id: str | None = None) -> Artifact:
        """Store bytes (``data`` or ``file``) in Storage and record the artifact row with
        size, mime and sha256 (see ``collab_sdk.client.artifacts``)."""
        return await upload_artifact(self.rpc, self.storage, job_id, name, data, file=file, mime=mime,
                                     bucket=bucket, worker_id=worker_id)

    async def sign_artifact(self, path: str, *, expires_in: int = 3600, bucket: str = DEFAULT_BUCKET,
                            job_id: UUID | str | None = None) -> str:
        """A time-limited download URL for a stored artifact (checked against the job's
        artifacts when ``job_id`` is given)."""
        return await sign_artifact(self.rpc, self.storage, path, expires_in=expires_in, bucket=bucket, job_id=job_id)

    # -- management ----------------------------------------------------------------

    async def cancel(self, job_id: UUID | str, *, reason: str | None = None) -> Job:
        """Cancel a queued or running job."""
        return await self.rpc.one(Job, "cancel_job_v1", job_id=job_id, reason=reason)

    async def retry(self, job_id: UUID | str) -> Job:
        """Put a finished job back in the queue with attempts reset to 0."""
        return await self.rpc.one(Job, "retry_job_v1", job_id=job_id)

    async def delete(self, job_id: UUID | str) -> Job:
        """Delete a job that is not running, with its events and artifact rows."""
        return await self.rpc.one(Job, "delete_job_v1", job_id=job_id)

    async def purge(self, *, older_than_seconds: int | None = None, executor_id: str | None = None,
                    statuses: Sequence[str] | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        """Delete finished jobs (default: succeeded) older than the age, with their events
        and artifact rows, ``batch_size`` jobs per transaction (``purge_jobs_batch_v1``);
        the count deleted. With Storage configured, the deleted artifacts' objects are
        removed too (``remove_deleted_objects``; a Storage failure is logged, not raised:
        the objects stay listed)."""
        purged = await purge_in_batches(self.rpc, older_than_seconds=older_than_seconds, executor_id=executor_id,
                                        statuses=statuses, batch_size=batch_size)
        if self.storage is not None:
            await remove_deleted_objects(self.rpc, self.storage, executor_id)
        return purged

    async def purge_runs(self, *, older_than_seconds: int | None = None, executor_id: str | None = None,
                         statuses: Sequence[str] | None = None, batch_size: int = DEFAULT_RUN_BATCH_SIZE) -> int:
        """Delete finished workflow runs (default: succeeded, failed and cancelled)
        completed longer than the age ago, with their step runs, step jobs and events,
        ``batch_size`` runs per transaction (``purge_runs_batch_v1``); the count of runs
        deleted. With Storage configured, the step jobs' artifact objects are removed too."""
        purged = await purge_runs_in_batches(self.rpc, older_than_seconds=older_than_seconds,
                                             executor_id=executor_id, statuses=statuses, batch_size=batch_size)
        if self.storage is not None:
            await remove_deleted_objects(self.rpc, self.storage, executor_id)
        return purged

    async def retention_policy(self, executor_id: str) -> RetentionPolicy:
        """The executor's retention policy (the defaults until one is set)."""
        return await self.rpc.value(RetentionPolicy, "retention_policy_v1", executor_id=executor_id)

    async def set_retention_policy(self, executor_id: str, *, succeeded_seconds: int | None | EllipsisType = ...,
                                   failed_seconds: int | None | EllipsisType = ...,
                                   cancelled_seconds: int | None | EllipsisType = ...,
                                   dead_letter_seconds: int | None | EllipsisType = ...,
                                   enabled: bool | EllipsisType = ...) -> RetentionPolicy:
        """Change the fields given (seconds, or ``None`` to keep forever); the others keep
        their value. Needs the admin role."""
        given = {"succeededSeconds": succeeded_seconds, "failedSeconds": failed_seconds,
                 "cancelledSeconds": cancelled_seconds, "deadLetterSeconds": dead_letter_seconds,
                 "enabled": enabled}
        return await self.rpc.value(RetentionPolicy, "set_retention_policy_v1", executor_id=executor_id,
                                    policy={k: v for k, v in given.items() if v is not ...})

    async def apply_retention(self, executor_id: str, worker_id: str, *,
                              batch_size: int = DEFAULT_BATCH_SIZE) -> RetentionBatch:
        """One pass of the executor's retention policy, batch by batch, if it is due and no
        one else holds the executor's retention lease (``ran`` False otherwise); then the
        deleted artifacts' Storage objects, with Storage configured."""
        done = await apply_retention_pass(self.rpc, executor_id, worker_id, batch_size=batch_size)
        if self.storage is not None:
            await remove_deleted_objects(self.rpc, self.storage, executor_id)
        return done

    async def remove_deleted_objects(self, executor_id: str | None = None) -> int:
        """Remove the Storage objects of deleted artifact rows (of one executor, or of all:
        trusted callers); the count removed."""
        if self.storage is None:
            raise ConfigurationError("this client has no artifact storage configured")
        return await remove_deleted_objects(self.rpc, self.storage, executor_id)

    # -- reads ---------------------------------------------------------------------

    async def get_job(self, job_id: UUID | str, *, payload_type: type[T] | None = None) -> Job[T]:
        """The job; ``NotFound`` when it does not exist or is not visible to you."""
        model: type[Job[T]] = cast(Any, Job)[payload_type] if payload_type else Job
        return await self.rpc.one(model, "get_job_v1", job_id=job_id)

    async def summary(self, job_id: UUID | str) -> JobSummary:
        """The job with its artifacts and full event log."""
        return await self.rpc.value(JobSummary, "job_summary_v1", job_id=job_id)

    async def events(self, job_id: UUID | str, *, after_seq: int | None = None,
                     page_size: int | None = None) -> list[JobEvent]:
        """The job's events with ``seq > after_seq``, ascending (at most ``page_size``)."""
        return await self.rpc.many(JobEvent, "events_by_job_v1", job_id=job_id, after_seq=after_seq,
                                page_size=page_size)

    async def artifacts(self, job_id: UUID | str) -> list[Artifact]:
        """The job's artifact rows, oldest first."""
        return await self.rpc.many(Artifact, "artifacts_by_job_v1", job_id=job_id)

    async def jobs_recent(self, *, executor_id: str | None = None, status: str | None = None,
                          type: str | None = None, page_size: int | None = None,
                          cursor: str | None = None) -> Page[Job]:
        """One page of jobs, newest first; pass ``page.next_cursor`` for the next."""
        return await self.rpc.value(Page[Job], "jobs_recent_v1", executor_id=executor_id,
                                    status=status, type=type, page_size=page_size, cursor=cursor)

    async def iter_jobs(self, *, executor_id: str | None = None, status: str | None = None,
                        type: str | None = None, page_size: int = 100) -> AsyncIterator[Job]:
        """Every job matching the filters, newest first, fetched page by page."""
        cursor: str | None = None
        while True:
            page = await self.jobs_recent(executor_id=executor_id, status=status, type=type,
                                          page_size=page_size, cursor=cursor)
            for job in page.items:
                yield job
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def dlq_list(self, *, executor_id: str | None = None, page_size: int | None = None,
                       cursor: str | None = None, include_retried: bool | None = None) -> Page[DeadLetter]:
        """One page of dead letters, newest first."""
        return await self.rpc.value(Page[DeadLetter], "dlq_list_v1", executor_id=executor_id,
                                    page_size=page_size, cursor=cursor,
                                    include_retried=include_retried)

    async def dlq_retry(self, dead_letter_id: UUID | str) -> Assigned:
        """Re-enqueue a dead letter's job, exactly once: later calls answer the same job
        with ``queued=False``."""
        return await self.rpc.one(Assigned, "dlq_retry_v1", dead_letter_id=dead_letter_id)

    # -- live streams (collab_sdk.client.streams) ------------------------------------------

    def watch(self, *, job_id: UUID | str | None = None, executor_id: str | None = None,
              since_seq: int | None = None, poll_interval: float = 1.0,
              source: LiveSource | None | bool = True) -> EventStream:
        """Every committed event of a job, an executor, or all you can see, with
        ``seq > since_seq`` (default 0: the whole log), oldest first, then live ones as
        they commit; never a gap, never a repeat, across reconnects. ``source``: the
        live source (default: LISTEN or Realtime, by transport; False: polling only)."""
        return self._stream(job_filter(job_id, executor_id), since_seq, poll_interval, source)

    def watch_job(self, job_id: UUID | str, *, since_seq: int | None = None,
                  poll_interval: float = 1.0,
                  source: LiveSource | None | bool = True) -> EventStream:
        """``watch(job_id=...)`` that ends after the job's final event (succeeded,
        failed or cancelled) once nothing follows it."""
        return self._stream(job_filter(job_id, None), since_seq, poll_interval, source,
                            until_final=True)

    def _stream(self, events: EventFilter, since_seq: int | None, poll_interval: float,
                source: LiveSource | None | bool, *, until_final: bool = False) -> EventStream:
        live = live_source_for(self.transport) if source is True else (source or None)
        return EventStream(watch_events(self.rpc, events, since_seq=since_seq or 0,
                                        until_final=until_final, poll_interval=poll_interval,
                                        source=live))

    async def events_head(self) -> int:
        """A seq to follow the log "from now": ``watch(since_seq=await events_head())``
        sees every event that commits after this call, and none before it."""
        return await self.rpc.value(int, "job_events_head_v1")

    async def job_snapshot(self, job_id: UUID | str) -> JobSnapshot:
        """The job, its artifacts and its events up to a safe ``seq``: resume live with
        ``watch(job_id=job_id, since_seq=snapshot.seq)``."""
        events, seq = await read_settled(self.rpc, job_filter(job_id, None))
        job, artifacts = await asyncio.gather(self.get_job(job_id), self.artifacts(job_id))
        return JobSnapshot(job=job, artifacts=artifacts, events=events, seq=seq)

    # -- workers, stats, membership ------------------------------------------------

    async def heartbeat(self, worker_id: str, executor_id: str, *, status: str | None = None,
                        version: str | None = None, capacity: int | None = None,
                        running: int | None = None,
                        metadata: Mapping[str, Any] | None = None) -> WorkerHeartbeat:
        """Upsert the worker's presence row; omitted fields reset to their defaults."""
        return await self.rpc.one(WorkerHeartbeat, "worker_heartbeat_v1", worker_id=worker_id,
                               executor_id=executor_id, status=status, version=version,
                               capacity=capacity, running=running, metadata=metadata)

    async def workers_active(self, *, within_seconds: int | None = None,
                             executor_id: str | None = None) -> list[WorkerHeartbeat]:
        """Workers seen in the last ``within_seconds`` (default 20) and not stopped."""
        return await self.rpc.many(WorkerHeartbeat, "workers_active_v1",
                                within_seconds=within_seconds, executor_id=executor_id)

    async def stats(self, *, executor_id: str | None = None, type: str | None = None) -> Stats:
        """Job counts by status (what you can see), of one job ``type`` if given: exact,
        from the counts the database keeps, cheap at any table size (``stats_v1``, or
        ``stats_v2`` with a type)."""
        if type is None:
            return await self.rpc.value(Stats, "stats_v1", executor_id=executor_id)
        return await self.rpc.value(Stats, "stats_v2", executor_id=executor_id, type=type)

    async def throughput(self, *, executor_id: str | None = None, minutes: int = 60) -> list[ThroughputMinute]:
        """Jobs that succeeded and failed in each of the last ``minutes`` (1-120) minutes,
        oldest first, the current minute last."""
        return await self.rpc.many(ThroughputMinute, "throughput_v1", executor_id=executor_id, minutes=minutes)

    async def jobs_bulk(self, action: BulkAction | str, *, executor_id: str,
                        job_ids: Sequence[UUID | str] | None = None, statuses: Sequence[str] | None = None,
                        type: str | None = None, reason: str | None = None) -> BulkResult:
        """Retry, cancel or delete the executor's jobs ``job_ids`` (a selection), or every
        job matching ``statuses`` and ``type`` when ``job_ids`` is None, in one statement.
        Jobs whose state forbids the action are refused and counted, not raised."""
        return await self.rpc.value(BulkResult, "jobs_bulk_v1", action=BulkAction(action).value,
                                    executor_id=executor_id,
                                    job_ids=None if job_ids is None else [str(j) for j in job_ids],
                                    statuses=None if statuses is None else list(statuses), type=type,
                                    reason=reason)

    async def metrics(self, *, executor_id: str | None = None) -> MetricsOverview:
        """Counts, throughput, latency percentiles, DLQ size and active workers."""
        return await self.rpc.value(MetricsOverview, "metrics_overview_v1", executor_id=executor_id)

    async def metrics_by_executor(self) -> EngineCounts:
        """Job counts by executor, type and state, and dead letters and active workers by
        executor, in one call (``collab serve``'s ``/metrics``); RLS limits a user to its
        executors."""
        return await self.rpc.value(EngineCounts, "metrics_by_executor_v1")

    async def add_member(self, executor_id: str, user_id: UUID | str, role: str = "client") -> Membership:
        """Make a user a ``client``, ``worker`` or ``admin`` of an executor (upsert)."""
        return await self.rpc.one(Membership, "add_executor_member_v1", executor_id=executor_id,
                               user_id=user_id, role=role)

    async def remove_member(self, executor_id: str, user_id: UUID | str) -> bool:
        """Remove a membership; whether there was one."""
        return await self.rpc.value(bool, "remove_executor_member_v1", executor_id=executor_id,
                                    user_id=user_id)

    async def members(self, executor_id: str) -> list[Membership]:
        """The members of an executor, oldest first (trusted callers and its admins)."""
        return await self.rpc.many(Membership, "executor_members_v1", executor_id=executor_id)

    async def my_executors(self) -> list[Membership]:
        """The caller's own memberships, by executor id (none for a trusted caller, who
        has no user id)."""
        return await self.rpc.many(Membership, "my_executors_v1")

    async def schema_version(self) -> int:
        """The database's ``collab.schema_version()``."""
        return int(await self.transport.call("schema_version", {}))

