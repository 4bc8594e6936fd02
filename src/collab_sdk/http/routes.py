"""The route tables: every operation once, with its path, its function name (when it is
also a functions-framework target), its input and output models. The ASGI app, the
function targets and the OpenAPI document all read ``TABLES``: one ``RouteTable`` per API,
each with its path prefix — the Collab API here (``ROUTES`` under ``/api/collab``, and its
WebSocket routes ``SOCKETS``: ``collab serve`` only, functions are HTTP), and every other
API's table from its own module.
"""

from __future__ import annotations

from collab_sdk.http import handlers as h
from collab_sdk.http import wire
from collab_sdk.http.dashboard import DASHBOARD_API
from collab_sdk.http.jobs_api import JOBS_API
from collab_sdk.http.v1.routes import ROOT, RUN_SOCKETS, WORKFLOW_API
from collab_sdk.http.observability import METRICS_API, READY_ROUTE
from collab_sdk.http.sse import events_stream
from collab_sdk.http.pipeline import Route, RouteTable, SocketRoute
from collab_sdk.http.sockets import events_socket
from collab_sdk.models import (Assigned, DeadLetter, Job, JobEvent, JobSummary, MetricsOverview,
                               Page)

__all__ = ["COLLAB_PREFIX", "FUNCTIONS_PREFIX", "ROUTES", "SOCKETS", "FUNCTIONS", "RouteTable",
           "COLLAB_API", "TABLES", "route_for_function"]

COLLAB_PREFIX = "/api/collab"
FUNCTIONS_PREFIX = "/functions/v1"

_JOB = "/job/<job_id>"

ROUTES: tuple[Route, ...] = (
    Route("health", "GET", "/health", h.health, wire.Health, "Liveness: `{ ok, timestamp }`",
          auth=False),
    READY_ROUTE,
    Route("task.assign", "POST", "/task.assign", h.task_assign, Assigned,
          "Enqueue a job; the same idempotency key (body or `X-Idempotency-Key`) returns the "
          "same job with `queued: false`", body=wire.AssignBody, errors=(403, 409, 413, 422)),
    Route("task.claim", "POST", "/task.claim", h.task_claim, wire.ClaimAnswer,
          "Lease the next due job: `{ job }`, or `{ job: null }` when there is none",
          body=wire.ClaimBody, errors=(403, 422)),
    Route("task.result", "POST", "/task.result", h.task_result, wire.Ok,
          "Report a leased job's result: `ok: true` completes it (with artifacts), `ok: false` "
          "fails it (retry with backoff, then the DLQ)", body=wire.ResultBody,
          errors=(403, 404, 409, 413, 422)),
    Route("job.get", "GET", _JOB, h.job_get, wire.JobAnswer, "A job: `{ job }`", errors=(404,)),
    Route("job.summary", "GET", f"{_JOB}/summary", h.job_summary, JobSummary,
          "A job with its artifacts and events", errors=(404,)),
    Route("job.retry", "POST", f"{_JOB}/retry", h.job_retry, wire.ManagedJob,
          "Put a finished job back in the queue (attempts reset)", errors=(403, 404, 409)),
    Route("job.cancel", "POST", f"{_JOB}/cancel", h.job_cancel, wire.ManagedJob,
          "Cancel a queued or running job", body=wire.CancelBody, body_required=False,
          errors=(403, 404, 409)),
    Route("job.delete", "DELETE", _JOB, h.job_delete, wire.Deleted,
          "Delete a job that is not running, with its events and artifact rows",
          errors=(403, 404, 409)),
    Route("events.by_job", "GET", "/events/by-job/<job_id>", h.events_by_job, wire.EventItems,
          "The job's events in order (`afterSeq` to continue)", query=wire.EventsQuery,
          errors=(404,)),
    Route("events.stream", "GET", "/events/stream", events_stream, JobEvent,
          "Server-Sent Events: a job's (`jobId`) or an executor's (`executorId`) committed "
          "events after `since` / `Last-Event-ID`, then live, each once in seq order (`id` is "
          "the seq, `data` the event); a job's stream ends with an `end` event",
          query=wire.StreamQuery, errors=(404, 422), media_type="text/event-stream"),
    Route("artifacts.by_job", "GET", "/artifacts/by-job/<job_id>", h.artifacts_by_job,
          wire.ArtifactItems, "The job's artifact rows", errors=(404,)),
    Route("jobs.recent", "GET", "/jobs/recent", h.jobs_recent, Page[Job],
          "Jobs newest first: `{ items, count, nextCursor }`; pass `nextCursor` as `cursor` "
          "until it is null", query=wire.RecentQuery, function="jobs-recent"),
    Route("jobs.stats", "GET", "/jobs/stats", h.jobs_stats, wire.StatsAnswer,
          "Job counts by status: `{ stats }`", query=wire.ExecutorQuery),
    Route("jobs.purge", "DELETE", "/jobs", h.jobs_purge, wire.Purged,
          "Delete finished jobs (default: succeeded) older than an age", query=wire.PurgeQuery,
          errors=(403,)),
    Route("metrics.overview", "GET", "/metrics/overview", h.metrics_overview, MetricsOverview,
          "Counts, throughput, latency percentiles, DLQ size, active workers",
          query=wire.ExecutorQuery, function="metrics-overview"),
    Route("metrics.throughput", "GET", "/metrics/throughput", h.metrics_throughput, wire.ThroughputItems,
          "Succeeded and failed jobs per minute over the last `minutes` (default 60): `{ items, count }`",
          query=wire.ThroughputQuery),
    Route("workers.heartbeat", "POST", "/workers/heartbeat", h.workers_heartbeat,
          wire.HeartbeatAnswer, "Upsert a worker's presence row", body=wire.HeartbeatBody,
          errors=(403, 409, 413, 422)),
    Route("workers.active", "GET", "/workers/active", h.workers_active, wire.WorkerItems,
          "Workers seen recently (default 20 s)", query=wire.ActiveQuery,
          function="workers-active"),
    Route("dlq.list", "GET", "/dlq", h.dlq_list, Page[DeadLetter],
          "Dead letters newest first: `{ items, count, nextCursor }`", query=wire.DlqListQuery,
          function="dlq-list"),
    Route("dlq.retry", "POST", "/dlq/retry", h.dlq_retry, Assigned,
          "Re-enqueue a dead letter's job exactly once: `{ jobId, queued }`",
          body=wire.DlqRetryBody, function="dlq-retry", errors=(403, 404, 422)),
    Route("artifacts.sign", "GET", "/artifacts/sign", h.sign_artifact, wire.SignedUrl,
          "A short-lived download URL for an artifact of a job the caller may read "
          "(`expires` 60-86400 s)", query=wire.SignQuery, function="sign-artifact",
          errors=(403, 404)),
)

SOCKETS: tuple[SocketRoute, ...] = (
    SocketRoute("events.ws", "/events/ws", events_socket,
                "WebSocket: a job's (`jobId`) or an executor's (`executorId`) snapshot, then each "
                "committed event after `since` once, in seq order (see collab_sdk.http.sockets)",
                query=wire.StreamQuery),
)

#: The Collab API of the seeds.
COLLAB_API = RouteTable("collab", COLLAB_PREFIX, ROUTES, SOCKETS)
#: Every API ``collab serve`` answers, in the order OpenAPI lists them.
TABLES: tuple[RouteTable, ...] = (COLLAB_API, JOBS_API, DASHBOARD_API,
                                  WORKFLOW_API, RUN_SOCKETS, ROOT)

FUNCTIONS: dict[str, Route] = {r.function: r for r in ROUTES if r.function}

#: Prometheus text at ``/metrics`` (``collab_sdk.http.observability``), after every API.
TABLES = (*TABLES, METRICS_API)


def route_for_function(name: str) -> Route:
    """The route a function target serves (``dlq-list`` …)."""
    return FUNCTIONS[name]
