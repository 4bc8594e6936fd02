"""The workflow API's route tables: ``WORKFLOW_API`` (REST under ``/api/v1``, D4-D8),
``RUN_SOCKETS`` (``WS /ws/runs/{run_id}``, D9) and ``ROOT`` (``GET /health``, no auth);
``collab_sdk.http.routes.TABLES`` lists them. Paths use the route core's ``<name>``
syntax; a ``*_id`` argument must be a UUID (400 ``invalid_id``)."""

from __future__ import annotations

from collab_sdk.http import handlers as core
from collab_sdk.http import wire
from collab_sdk.http.pipeline import Route, RouteTable, SocketRoute
from collab_sdk.http.v1 import handlers as h
from collab_sdk.http.v1 import models as m
from collab_sdk.http.v1.sockets import RunStreamQuery, run_socket

__all__ = ["V1_PREFIX", "WS_PREFIX", "ROUTES", "SOCKETS", "WORKFLOW_API", "RUN_SOCKETS", "ROOT"]

V1_PREFIX = "/api/v1"
WS_PREFIX = "/ws"

_WF = "/workflows/<workflow_id>"
_RUN = "/runs/<run_id>"
_KEYED = " `X-Idempotency-Key`: the same key answers the same resource (200; 201 when made), another body with it is 409."

ROUTES: tuple[Route, ...] = (
    # workflows (D5)
    Route("workflows.list", "GET", "/workflows", h.list_workflows, m.WorkflowPage,
          "Workflows newest first (`status`, `executor_id`, `page_size`, `cursor` = `next_cursor`)",
          query=m.WorkflowListQuery, errors=(400,)),
    Route("workflows.create", "POST", "/workflows", h.create_workflow, m.WorkflowResponse,
          "Create a draft (version 1); `executor_id` omitted: the caller's only executor, "
          "`default` for the service role." + _KEYED, body=m.WorkflowCreate,
          errors=(400, 403, 409, 413, 422), creates=True),
    Route("workflows.get", "GET", _WF, h.get_workflow, m.WorkflowResponse,
          "A workflow with its definition (for the editor)", errors=(404,)),
    Route("workflows.update", "PUT", _WF, h.update_workflow, m.WorkflowResponse,
          "Save a draft (published or archived: 409, frozen)", body=m.WorkflowUpdate,
          errors=(400, 403, 404, 409, 413, 422)),
    Route("workflows.delete", "DELETE", _WF, h.delete_workflow, m.WorkflowResponse,
          "Delete a draft (published, or with runs: 400 `cannot_delete`)", errors=(400, 403, 404)),
    Route("workflows.publish", "POST", f"{_WF}/publish", h.publish_workflow, m.WorkflowResponse,
          "Validate, then freeze the definition so it can run; invalid: 400 `invalid_input` "
          "whose `error.errors` lists each problem", errors=(400, 403, 404, 409)),
    Route("workflows.validate", "POST", f"{_WF}/validate", h.validate_workflow,
          m.ValidationResponse, "The engine's verdict on the saved definition", errors=(404,)),
    Route("workflows.duplicate", "POST", f"{_WF}/duplicate", h.duplicate_workflow,
          m.WorkflowResponse, "Copy as a new draft with version + 1." + _KEYED,
          body=m.DuplicateInput, body_required=False, errors=(403, 404, 409, 422), creates=True),
    # runs (D6)
    Route("runs.start", "POST", f"{_WF}/run", h.start_run, m.RunResponse,
          "Start a run of a published workflow (a draft or archived one: 409); the input is "
          "checked against `input_schema` (400)." + _KEYED, body=m.RunInput,
          body_required=False, errors=(400, 403, 404, 409, 413, 422), creates=True),
    Route("runs.list", "GET", "/runs", h.list_runs, m.RunPage,
          "Runs newest first by `workflow_id`, `status` and `since` <= created_at < `until`",
          query=m.RunListQuery, errors=(400,)),
    Route("runs.get", "GET", _RUN, h.get_run, m.RunResponse,
          "A run: status, input, context (step outputs), timing", errors=(404,)),
    Route("runs.steps", "GET", f"{_RUN}/steps", h.run_steps, m.StepRunList,
          "The run's steps in definition order", errors=(404,)),
    Route("runs.events", "GET", f"{_RUN}/events", h.run_events, m.EventList,
          "The run's events in seq order (`after_seq` to continue), for replay",
          query=m.EventsQuery, errors=(400, 404)),
    Route("runs.resume", "POST", f"{_RUN}/resume", h.resume_run, m.RunResponse,
          "Succeed a waiting approval step with `data` and continue (not waiting: 409)",
          body=m.ResumeInput, errors=(400, 403, 404, 409, 422)),
    Route("runs.cancel", "POST", f"{_RUN}/cancel", h.cancel_run, m.RunResponse,
          "Cancel a pending, running or paused run (finished: 409)", body=m.CancelInput,
          body_required=False, errors=(403, 404, 409)),
    Route("runs.retry", "POST", f"{_RUN}/retry", h.retry_run, m.RunResponse,
          "Run a failed run again from its failed steps (not failed: 409)",
          errors=(403, 404, 409)),
    # triggers (D7)
    Route("triggers.webhook", "POST", "/triggers/webhook/<workflow_id>", h.webhook_trigger,
          m.RunResponse, "A webhook delivery starts a run (trigger `webhook`, input = the JSON "
          "body). No JWT: `X-Collab-Signature: sha256=<hex HMAC-SHA256 of the raw body under the "
          "workflow's secret>` is the authorisation (missing: 401, wrong: 403); "
          "`X-Collab-Delivery` makes a redelivery answer the same run (200)", auth=False,
          raw_body=True, errors=(400, 401, 403, 404, 409, 413), creates=True),
    Route("triggers.webhook_secret", "POST", "/triggers/webhook/<workflow_id>/secret",
          h.webhook_secret, m.WebhookSecretResponse,
          "Make or rotate the workflow's webhook secret: `secret` is shown only here",
          errors=(403, 404)),
    Route("triggers.schedule", "POST", "/triggers/schedule", h.save_schedule, m.ScheduleResponse,
          "Create a cron trigger (`workflow_id`, `cron`, `timezone`, `input`, `enabled`), or "
          "with `schedule_id` change one." + _KEYED, body=m.ScheduleInput,
          errors=(400, 403, 404, 409, 422), creates=True),
    Route("triggers.schedules", "GET", "/triggers/schedules", h.list_schedules, m.ScheduleList,
          "The schedules you can see, by next fire time", query=m.SchedulesQuery, errors=(400,)),
    Route("triggers.schedule_delete", "DELETE", "/triggers/schedules/<schedule_id>",
          h.delete_schedule, m.ScheduleResponse, "Remove a schedule", errors=(403, 404)),
    # catalog (D8)
    Route("catalog.steps", "GET", "/catalog/steps", h.catalog_steps, m.Catalog,
          "The step types for an editor's palette: built-ins and the executor's",
          query=m.CatalogQuery, errors=(400, 422)),
)

SOCKETS: tuple[SocketRoute, ...] = (
    SocketRoute("runs.ws", "/runs/<run_id>", run_socket,
                "WebSocket: the run's snapshot `{type: snapshot, step_statuses, run, steps, seq}`, "
                "then each later event `{type: event, seq, ...}` once in seq order, then "
                "`{type: end, reason}` (see collab_sdk.http.v1.sockets)", query=RunStreamQuery),
)

#: The workflow API of the seed.
WORKFLOW_API = RouteTable("workflows", V1_PREFIX, ROUTES)
#: ``WS /ws/runs/{run_id}``.
RUN_SOCKETS = RouteTable("workflows", WS_PREFIX, (), SOCKETS)
#: ``GET /health`` at the root, as the seed serves it (no auth, no database round trip).
ROOT = RouteTable("health", "", (
    Route("health.root", "GET", "/health", core.health, wire.Health,
          "Liveness: `{ ok, timestamp }`", auth=False),))
