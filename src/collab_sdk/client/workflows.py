"""``client.workflows``: one typed method per workflow RPC (definitions, the step
catalog, runs and their control, schedules, webhooks), over the client's RPC core.

Definitions are checked by the engine (``validate``); start checks the run input
against the workflow's ``input_schema`` with ``jsonschema`` first, for a precise message
before anything is sent (the engine checks the input's structure again). Runs are
followed with ``watch_run``: their ``run_*`` and ``step_*`` events, gapless, in seq
order, through the same machinery as ``watch``.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import jsonschema

from collab_sdk.client.rpc import RpcCore
from collab_sdk.client.streams import EventStream, read_settled, watch_events
from collab_sdk.errors import ValidationError
from collab_sdk.models import JobEvent, Page
from collab_sdk.transports.base import EventFilter, LiveSource
from collab_sdk.workflows.models import (FiredSchedule, Run, RunSnapshot, Schedule,
                                         ScheduleCreated, Started, StepRun, StepType,
                                         ValidationResult, WebhookSecret, Workflow,
                                         WorkflowCreated)

__all__ = ["AsyncWorkflows", "check_input"]

Id = UUID | str


def check_input(schema: Mapping[str, Any] | None, value: Any) -> None:
    """Raise ``ValidationError`` (CL400) when ``value`` does not satisfy ``schema``."""
    if schema is None:
        return
    try:
        jsonschema.validate(value, dict(schema))
    except jsonschema.ValidationError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "input"
        raise ValidationError(f"{where}: {exc.message}", code="CL400") from None
    except jsonschema.SchemaError as exc:
        raise ValidationError(f"the workflow's input_schema is invalid: {exc.message}",
                              code="CL400") from None


class AsyncWorkflows:
    """The workflow methods of ``AsyncCollabClient`` (``client.workflows``)."""

    def __init__(self, rpc: RpcCore, live_source: Callable[[], LiveSource | None]) -> None:
        self.rpc = rpc
        self._live_source = live_source

    # -- definitions ------------------------------------------------------------------

    async def create(self, name: str, *, executor_id: str, description: str | None = None,
                     definition: Mapping[str, Any] | None = None,
                     input_schema: Mapping[str, Any] | None = None) -> Workflow:
        """A new draft (version 1)."""
        return await self.rpc.one(Workflow, "create_workflow_v1", executor_id=executor_id,
                                  name=name, description=description, definition=definition,
                                  input_schema=input_schema)

    async def create_once(self, name: str, *, executor_id: str, idempotency_key: str,
                          description: str | None = None,
                          definition: Mapping[str, Any] | None = None,
                          input_schema: Mapping[str, Any] | None = None) -> WorkflowCreated:
        """``create`` at most once per ``idempotency_key`` (per executor): the same key
        and fields answer the draft it made with ``created=False``, also under concurrent
        calls; the same key with other fields is ``Conflict`` (CL409)."""
        return await self.rpc.value(WorkflowCreated, "create_workflow_v2", executor_id=executor_id,
                                    name=name, description=description, definition=definition,
                                    input_schema=input_schema, idempotency_key=idempotency_key)

    async def update(self, workflow_id: Id, *, name: str | None = None,
                     description: str | None = None, definition: Mapping[str, Any] | None = None,
                     input_schema: Mapping[str, Any] | None = None) -> Workflow:
        """Change a draft (a published workflow is frozen: ``InvalidTransition``)."""
        return await self.rpc.one(Workflow, "update_workflow_v1", workflow_id=workflow_id,
                                  name=name, description=description, definition=definition,
                                  input_schema=input_schema)

    async def get(self, workflow_id: Id) -> Workflow:
        """The workflow with its definition; ``NotFound`` when it is not visible."""
        return await self.rpc.one(Workflow, "get_workflow_v1", workflow_id=workflow_id)

    async def list(self, *, executor_id: str | None = None, status: str | None = None,
                   page_size: int | None = None, cursor: str | None = None) -> Page[Workflow]:
        """One page of workflows, newest first."""
        return await self.rpc.value(Page[Workflow], "workflows_v1", executor_id=executor_id,
                                    status=status, page_size=page_size, cursor=cursor)

    async def validate(self, workflow_id: Id) -> ValidationResult:
        """The engine's verdict on a stored workflow's definition."""
        return await self.rpc.value(ValidationResult, "validate_workflow_v1", workflow_id=workflow_id)

    async def validate_definition(self, definition: Mapping[str, Any], *,
                                  executor_id: str) -> ValidationResult:
        """The engine's verdict on a definition not stored yet."""
        return await self.rpc.value(ValidationResult, "validate_definition_v1",
                                    executor_id=executor_id, definition=definition)

    async def publish(self, workflow_id: Id) -> Workflow:
        """Validate, then freeze the definition so it can run (``ValidationError`` with
        the engine's errors when it is not valid)."""
        return await self.rpc.one(Workflow, "publish_workflow_v1", workflow_id=workflow_id)

    async def duplicate(self, workflow_id: Id, *, name: str | None = None) -> Workflow:
        """A new draft copy with version + 1."""
        return await self.rpc.one(Workflow, "duplicate_workflow_v1", workflow_id=workflow_id,
                                  name=name)

    async def duplicate_once(self, workflow_id: Id, *, idempotency_key: str,
                             name: str | None = None) -> WorkflowCreated:
        """``duplicate`` at most once per ``idempotency_key`` (as ``create_once``)."""
        return await self.rpc.value(WorkflowCreated, "duplicate_workflow_v2", workflow_id=workflow_id,
                                    name=name, idempotency_key=idempotency_key)

    async def archive(self, workflow_id: Id) -> Workflow:
        """Retire a workflow: it starts no more runs."""
        return await self.rpc.one(Workflow, "archive_workflow_v1", workflow_id=workflow_id)

    async def delete(self, workflow_id: Id) -> Workflow:
        """Delete a workflow that is not published."""
        return await self.rpc.one(Workflow, "delete_workflow_v1", workflow_id=workflow_id)

    # -- the step catalog -------------------------------------------------------------

    async def step_types(self, *, executor_id: str | None = None) -> builtins.list[StepType]:
        """The catalog: built-ins and the executor's registered step types."""
        return await self.rpc.many(StepType, "step_types_v1", executor_id=executor_id)

    async def register_step_types(self, executor_id: str,
                                  step_types: Sequence[Mapping[str, Any]]) -> builtins.list[StepType]:
        """Upsert catalog entries (what a worker does for its ``@worker.step`` handlers)."""
        return await self.rpc.many(StepType, "register_step_types_v1", executor_id=executor_id,
                                   step_types=list(step_types))

    # -- runs -------------------------------------------------------------------------

    async def start(self, workflow_id: Id, *, input: Mapping[str, Any] | None = None,
                    idempotency_key: str | None = None) -> Started:
        """Start a run of a published workflow; the same ``idempotency_key`` answers the
        existing run with ``created=False``. The input is checked against the
        workflow's ``input_schema`` first."""
        workflow = await self.get(workflow_id)
        check_input(workflow.input_schema, dict(input or {}))
        return await self.rpc.value(Started, "start_run_v1", workflow_id=workflow_id,
                                    input=dict(input or {}), idempotency_key=idempotency_key)

    async def get_run(self, run_id: Id) -> Run:
        """The run; ``NotFound`` when it is not visible."""
        return await self.rpc.one(Run, "get_run_v1", run_id=run_id)

    async def steps(self, run_id: Id) -> builtins.list[StepRun]:
        """The run's steps in definition order."""
        return await self.rpc.many(StepRun, "run_steps_v1", run_id=run_id)

    async def list_runs(self, *, workflow_id: Id | None = None, executor_id: str | None = None,
                        status: str | None = None, since: datetime | None = None,
                        until: datetime | None = None, page_size: int | None = None,
                        cursor: str | None = None) -> Page[Run]:
        """One page of runs, newest first; ``since``/``until`` bound ``created_at``
        (``since <= created_at < until``)."""
        if since is None and until is None:
            return await self.rpc.value(Page[Run], "runs_v1", workflow_id=workflow_id,
                                        executor_id=executor_id, status=status,
                                        page_size=page_size, cursor=cursor)
        return await self.rpc.value(Page[Run], "runs_v2", workflow_id=workflow_id,
                                    executor_id=executor_id, status=status, since=since,
                                    until=until, page_size=page_size, cursor=cursor)

    async def snapshot(self, run_id: Id) -> RunSnapshot:
        """The run and its steps now, and the seq to follow it from."""
        return await self.rpc.value(RunSnapshot, "run_snapshot_v1", run_id=run_id)

    async def events(self, run_id: Id, *, after_seq: int = 0) -> builtins.list[JobEvent]:
        """Every settled event of the run after ``after_seq`` (for replay)."""
        events, _ = await read_settled(self.rpc, _run_filter(run_id), after_seq)
        return events

    def watch_run(self, run_id: Id, *, since_seq: int | None = None, poll_interval: float = 1.0,
                  until_final: bool = True, source: LiveSource | None | bool = True) -> EventStream:
        """The run's events after ``since_seq``, then live ones as they commit, once
        each, in seq order; ends after the run's final event unless ``until_final`` is
        False. ``source``: the live source (default: the transport's; False: polling)."""
        live = self._live_source() if source is True else (source or None)
        return EventStream(watch_events(self.rpc, _run_filter(run_id), since_seq=since_seq or 0,
                                        until_final=until_final, poll_interval=poll_interval,
                                        source=live))

    async def resume(self, run_id: Id, step_id: str, data: Mapping[str, Any] | None = None) -> Run:
        """Succeed a waiting approval step with ``data`` as its output and continue the
        run, exactly once (a second resume is ``InvalidTransition``)."""
        return await self.rpc.one(Run, "resume_run_v1", run_id=run_id, step_id=step_id,
                                  data=dict(data or {}))

    async def cancel(self, run_id: Id, *, reason: str | None = None) -> Run:
        """Cancel a pending, running or paused run; its queued and running step jobs
        are cancelled (a running worker loses its lease)."""
        return await self.rpc.one(Run, "cancel_run_v1", run_id=run_id, reason=reason)

    async def retry(self, run_id: Id) -> Run:
        """Run a failed run again from its failed steps; succeeded steps keep their outputs."""
        return await self.rpc.one(Run, "retry_run_v1", run_id=run_id)

    # -- schedules and webhooks -------------------------------------------------------

    async def create_schedule(self, workflow_id: Id, cron: str, *, timezone: str | None = None,
                              input: Mapping[str, Any] | None = None,
                              enabled: bool | None = None) -> Schedule:
        """A cron trigger (five fields, in ``timezone``, default UTC)."""
        return await self.rpc.one(Schedule, "create_schedule_v1", workflow_id=workflow_id,
                                  cron=cron, timezone=timezone, input=input, enabled=enabled)

    async def create_schedule_once(self, workflow_id: Id, cron: str, *, idempotency_key: str,
                                   timezone: str | None = None,
                                   input: Mapping[str, Any] | None = None,
                                   enabled: bool | None = None) -> ScheduleCreated:
        """``create_schedule`` at most once per ``idempotency_key`` (as ``create_once``)."""
        return await self.rpc.value(ScheduleCreated, "create_schedule_v2", workflow_id=workflow_id,
                                    cron=cron, timezone=timezone, input=input, enabled=enabled,
                                    idempotency_key=idempotency_key)

    async def update_schedule(self, schedule_id: Id, *, cron: str | None = None,
                              timezone: str | None = None, input: Mapping[str, Any] | None = None,
                              enabled: bool | None = None) -> Schedule:
        """Change a schedule (its next fire time follows the new cron)."""
        return await self.rpc.one(Schedule, "update_schedule_v1", schedule_id=schedule_id,
                                  cron=cron, timezone=timezone, input=input, enabled=enabled)

    async def delete_schedule(self, schedule_id: Id) -> Schedule:
        """Remove a schedule."""
        return await self.rpc.one(Schedule, "delete_schedule_v1", schedule_id=schedule_id)

    async def schedules(self, *, workflow_id: Id | None = None,
                        executor_id: str | None = None) -> builtins.list[Schedule]:
        """The schedules you can see."""
        return await self.rpc.many(Schedule, "schedules_v1", workflow_id=workflow_id,
                                   executor_id=executor_id)

    async def fire_due_schedules(self, *, executor_id: str | None = None) -> builtins.list[FiredSchedule]:
        """Fire every due schedule once for its tick (what pg_cron or a worker calls)."""
        return await self.rpc.many(FiredSchedule, "fire_due_schedules_v1", executor_id=executor_id)

    async def create_webhook_secret(self, workflow_id: Id) -> WebhookSecret:
        """A new webhook secret for the workflow (replacing any), shown only here."""
        return await self.rpc.value(WebhookSecret, "create_webhook_secret_v1", workflow_id=workflow_id)

    async def webhook_secret(self, workflow_id: Id) -> WebhookSecret:
        """The webhook secret's fingerprint and age (never the secret)."""
        return await self.rpc.value(WebhookSecret, "webhook_secret_info_v1", workflow_id=workflow_id)

    async def delete_webhook_secret(self, workflow_id: Id) -> bool:
        """Remove the webhook secret; whether there was one."""
        return await self.rpc.value(bool, "delete_webhook_secret_v1", workflow_id=workflow_id)

    async def start_from_webhook(self, workflow_id: Id, body: str, signature: str, *,
                                 delivery_id: str | None = None) -> Started:
        """Start a run from a webhook delivery: ``signature`` is the hex HMAC-SHA256 of
        the raw ``body`` with the workflow's secret; ``delivery_id`` makes redelivery
        answer the same run."""
        return await self.rpc.value(Started, "webhook_start_run_v1", workflow_id=workflow_id,
                                    body=body, signature=signature, delivery_id=delivery_id)


def _run_filter(run_id: Id) -> EventFilter:
    return EventFilter(run_id=str(run_id))
