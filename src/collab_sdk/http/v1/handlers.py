"""The workflow API's route functions (D5-D8): validate (the pipeline did), one
``call.client.workflows`` call as the caller, a model out. No SQL and no workflow logic
here — the engine decides (membership, frozen definitions, idempotency) and its errors
become HTTP statuses in ``collab_sdk.http.errors``. Each route function is at most 20
lines (tests/http/v1 checks it).

``executor_id`` omitted (creating a workflow, the catalog): the service role (API key
or ``service_role`` JWT) means ``default``; a user means its only executor when it is a
member of exactly one (``my_executors_v1``); otherwise 422 ``executor_required``.

``X-Idempotency-Key`` on every creating route (create, duplicate, run, schedule): the
same key answers the resource it made with 200 (201 when this call made it), also under
concurrent requests; the same key with another body is 409 ``conflict``. A webhook
delivery's key is its ``X-Collab-Delivery`` header.
"""

from __future__ import annotations

from typing import Any

from collab_sdk.errors import InvalidTransition
from collab_sdk.http.errors import HttpError
from collab_sdk.http.pipeline import Call, Response, json_response
from collab_sdk.http.v1 import models as m

__all__ = ["DEFAULT_EXECUTOR", "SIGNATURE_HEADER", "DELIVERY_HEADER", "resolve_executor",
           "idempotency_key", "list_workflows", "create_workflow", "get_workflow",
           "update_workflow", "delete_workflow", "publish_workflow", "validate_workflow",
           "duplicate_workflow", "start_run", "list_runs", "get_run", "run_steps", "run_events",
           "resume_run", "cancel_run", "retry_run", "webhook_trigger", "webhook_secret",
           "save_schedule", "list_schedules", "delete_schedule", "catalog_steps"]

#: The executor of the service role when a request names none.
DEFAULT_EXECUTOR = "default"
#: The webhook signature header: ``sha256=<hex HMAC-SHA256 of the raw body>``.
SIGNATURE_HEADER = "x-collab-signature"
#: The webhook delivery id header: a redelivery with the same id answers the same run.
DELIVERY_HEADER = "x-collab-delivery"


async def resolve_executor(call: Call, given: str | None) -> str:
    """``given``, else the caller's executor (see the module doc)."""
    if given is not None:
        return given
    if call.client is call.runtime.client:  # trusted: API key or service_role
        return DEFAULT_EXECUTOR
    mine = await call.client.my_executors()
    if len(mine) == 1:
        return mine[0].executor_id
    raise HttpError(422, "executor_required",
                    f"you are a member of {len(mine)} executors: name one with executor_id")


def idempotency_key(call: Call, in_body: str | None = None) -> str | None:
    """The request's idempotency key: ``X-Idempotency-Key`` or the body's (they must agree)."""
    header = call.headers.get("x-idempotency-key")
    if header is not None and in_body is not None and header != in_body:
        raise HttpError(422, "invalid_body", "idempotency_key and X-Idempotency-Key differ")
    key = in_body if in_body is not None else header
    if key is not None and not 1 <= len(key) <= 255:
        raise HttpError(422, "invalid_body", "X-Idempotency-Key must be 1-255 characters")
    return key


def _created(model: m.WorkflowResponse | m.RunResponse | m.ScheduleResponse, created: bool) -> Response:
    return json_response(model, 201 if created else 200)


# -- workflows (D5) ---------------------------------------------------------------------

async def list_workflows(call: Call) -> m.WorkflowPage:
    """``GET /workflows``: newest first, by status and executor."""
    q: m.WorkflowListQuery = call.query
    return m.WorkflowPage.of(await call.client.workflows.list(
        executor_id=q.executor_id, status=q.status, page_size=q.page_size, cursor=q.cursor))


async def create_workflow(call: Call) -> Response:
    """``POST /workflows``: a new draft; idempotent with ``X-Idempotency-Key``."""
    body: m.WorkflowCreate = call.body
    executor = await resolve_executor(call, body.executor_id)
    fields: dict[str, Any] = dict(description=body.description, definition=body.definition,
                                  input_schema=body.input_schema)
    key = idempotency_key(call)
    if key is None:
        made = await call.client.workflows.create(body.name, executor_id=executor, **fields)
        return _created(m.WorkflowResponse.of(made), True)
    once = await call.client.workflows.create_once(body.name, executor_id=executor,
                                                   idempotency_key=key, **fields)
    return _created(m.WorkflowResponse.of(once.workflow), once.created)


async def get_workflow(call: Call) -> m.WorkflowResponse:
    """``GET /workflows/{id}``: the workflow with its definition."""
    return m.WorkflowResponse.of(await call.client.workflows.get(call.path["workflow_id"]))


async def update_workflow(call: Call) -> m.WorkflowResponse:
    """``PUT /workflows/{id}``: change a draft (published: 409, frozen)."""
    body: m.WorkflowUpdate = call.body
    return m.WorkflowResponse.of(await call.client.workflows.update(
        call.path["workflow_id"], name=body.name, description=body.description,
        definition=body.definition, input_schema=body.input_schema))


async def delete_workflow(call: Call) -> m.WorkflowResponse:
    """``DELETE /workflows/{id}``: delete a draft; a published workflow is 400."""
    try:
        return m.WorkflowResponse.of(await call.client.workflows.delete(call.path["workflow_id"]))
    except InvalidTransition as exc:  # the seed's status for "cannot delete"
        raise HttpError(400, "cannot_delete", exc.message) from None


async def publish_workflow(call: Call) -> m.WorkflowResponse:
    """``POST /workflows/{id}/publish``: validate and freeze; invalid: 400 ``invalid_input``
    whose ``errors`` list each problem."""
    return m.WorkflowResponse.of(await call.client.workflows.publish(call.path["workflow_id"]))


async def validate_workflow(call: Call) -> m.ValidationResponse:
    """``POST /workflows/{id}/validate``: the engine's verdict on the saved definition."""
    verdict = await call.client.workflows.validate(call.path["workflow_id"])
    return m.ValidationResponse(valid=verdict.valid, errors=verdict.errors)


async def duplicate_workflow(call: Call) -> Response:
    """``POST /workflows/{id}/duplicate``: a new draft, version + 1; idempotent."""
    body: m.DuplicateInput = call.body
    workflow_id, key = call.path["workflow_id"], idempotency_key(call)
    if key is None:
        made = await call.client.workflows.duplicate(workflow_id, name=body.name)
        return _created(m.WorkflowResponse.of(made), True)
    once = await call.client.workflows.duplicate_once(workflow_id, name=body.name, idempotency_key=key)
    return _created(m.WorkflowResponse.of(once.workflow), once.created)


# -- runs (D6) --------------------------------------------------------------------------

async def start_run(call: Call) -> Response:
    """``POST /workflows/{id}/run``: start a run of a published workflow; idempotent."""
    body: m.RunInput = call.body
    started = await call.client.workflows.start(call.path["workflow_id"], input=body.input,
                                                idempotency_key=idempotency_key(call, body.idempotency_key))
    return _created(m.RunResponse.of(started.run), started.created)


async def list_runs(call: Call) -> m.RunPage:
    """``GET /runs``: newest first, by workflow, status and date range."""
    q: m.RunListQuery = call.query
    if q.since is not None and q.until is not None and q.until < q.since:
        return m.RunPage(items=[], count=0)  # an empty range (the engine would refuse it)
    return m.RunPage.of(await call.client.workflows.list_runs(
        workflow_id=q.workflow_id, executor_id=q.executor_id, status=q.status, since=q.since,
        until=q.until, page_size=q.page_size, cursor=q.cursor))


async def get_run(call: Call) -> m.RunResponse:
    """``GET /runs/{id}``: status, context, timing."""
    return m.RunResponse.of(await call.client.workflows.get_run(call.path["run_id"]))


async def run_steps(call: Call) -> m.StepRunList:
    """``GET /runs/{id}/steps``: the run's steps in definition order."""
    steps = await call.client.workflows.steps(call.path["run_id"])
    return m.StepRunList([m.StepRunResponse.of(s) for s in steps])


async def run_events(call: Call) -> m.EventList:
    """``GET /runs/{id}/events``: the run's events in seq order, for replay."""
    q: m.EventsQuery = call.query
    events = await call.client.workflows.events(call.path["run_id"], after_seq=q.after_seq)
    return m.EventList([m.EventResponse.of(e) for e in events])


async def resume_run(call: Call) -> m.RunResponse:
    """``POST /runs/{id}/resume``: succeed the waiting approval step with ``data``."""
    body: m.ResumeInput = call.body
    return m.RunResponse.of(await call.client.workflows.resume(call.path["run_id"], body.step_id, body.data))


async def cancel_run(call: Call) -> m.RunResponse:
    """``POST /runs/{id}/cancel``: cancel a pending, running or paused run."""
    body: m.CancelInput = call.body
    return m.RunResponse.of(await call.client.workflows.cancel(call.path["run_id"], reason=body.reason))


async def retry_run(call: Call) -> m.RunResponse:
    """``POST /runs/{id}/retry``: run a failed run again from its failed steps."""
    return m.RunResponse.of(await call.client.workflows.retry(call.path["run_id"]))


# -- triggers (D7) ----------------------------------------------------------------------

async def webhook_trigger(call: Call) -> Response:
    """``POST /triggers/webhook/{id}``: a run with trigger ``webhook``; the signature over
    the raw body is the authorisation (the engine checks it), the delivery id the key."""
    signature = call.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise HttpError(401, "missing_signature", "send X-Collab-Signature: sha256=<hex HMAC-SHA256 of the body>")
    try:
        text = (call.raw or b"").decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "invalid_json", "the request body is not valid UTF-8") from None
    started = await call.client.workflows.start_from_webhook(
        call.path["workflow_id"], text, signature,
        delivery_id=call.headers.get(DELIVERY_HEADER) or call.headers.get("x-idempotency-key"))
    return _created(m.RunResponse.of(started.run), started.created)


async def webhook_secret(call: Call) -> m.WebhookSecretResponse:
    """``POST /triggers/webhook/{id}/secret``: make or rotate the secret (shown only here)."""
    made = await call.client.workflows.create_webhook_secret(call.path["workflow_id"])
    return m.WebhookSecretResponse.model_validate(made.model_dump(by_alias=False))


async def save_schedule(call: Call) -> Response:
    """``POST /triggers/schedule``: create a cron trigger (idempotent), or with
    ``schedule_id`` change one."""
    b: m.ScheduleInput = call.body
    fields: dict[str, Any] = dict(timezone=b.timezone, input=b.input, enabled=b.enabled)
    if b.schedule_id is not None:
        changed = await call.client.workflows.update_schedule(b.schedule_id, cron=b.cron, **fields)
        return _created(m.ScheduleResponse.of(changed), False)
    if b.workflow_id is None or b.cron is None:
        raise HttpError(422, "invalid_body", "a new schedule needs workflow_id and cron")
    key = idempotency_key(call)
    if key is None:
        made = await call.client.workflows.create_schedule(b.workflow_id, b.cron, **fields)
        return _created(m.ScheduleResponse.of(made), True)
    once = await call.client.workflows.create_schedule_once(b.workflow_id, b.cron, idempotency_key=key, **fields)
    return _created(m.ScheduleResponse.of(once.schedule), once.created)


async def list_schedules(call: Call) -> m.ScheduleList:
    """``GET /triggers/schedules``: the schedules the caller can see."""
    q: m.SchedulesQuery = call.query
    found = await call.client.workflows.schedules(workflow_id=q.workflow_id, executor_id=q.executor_id)
    return m.ScheduleList([m.ScheduleResponse.of(s) for s in found])


async def delete_schedule(call: Call) -> m.ScheduleResponse:
    """``DELETE /triggers/schedules/{id}``: remove a schedule."""
    return m.ScheduleResponse.of(await call.client.workflows.delete_schedule(call.path["schedule_id"]))


# -- catalog (D8) -----------------------------------------------------------------------

async def catalog_steps(call: Call) -> m.Catalog:
    """``GET /catalog/steps``: the step types an editor's palette offers."""
    q: m.CatalogQuery = call.query
    found = await call.client.workflows.step_types(executor_id=await resolve_executor(call, q.executor_id))
    return m.Catalog([m.StepTypeResponse.of(t) for t in found])
