"""The workflow API's models (D1), snake_case on the wire exactly as the seed writes
them: plain pydantic models, without the Collab API's camelCase aliases. Requests ignore
no field silently (``extra="forbid"``); responses are built from the SDK's rows with
``of``. ``executor_id`` is collab's extension (the seed has no tenant): optional in
requests (see ``collab_sdk.http.v1.handlers`` for the rule when it is omitted), always
present in responses.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, RootModel

from collab_sdk.http.wire import ClientTime, Cursor, Name
from collab_sdk.models import JobEvent, Page
from collab_sdk.workflows.models import Run, Schedule, StepRun, StepType, Workflow

__all__ = ["WorkflowCreate", "WorkflowUpdate", "WorkflowResponse", "WorkflowPage",
           "WorkflowListQuery", "DuplicateInput", "RunInput", "ResumeInput", "CancelInput",
           "RunResponse", "RunPage", "RunListQuery", "StepRunResponse", "StepRunList",
           "EventResponse", "EventList", "EventsQuery", "ValidationResponse", "ScheduleInput",
           "ScheduleResponse", "ScheduleList", "SchedulesQuery", "WebhookSecretResponse",
           "CatalogQuery", "StepTypeResponse", "Catalog", "SnapshotMessage",
           "EventMessage", "EndMessage"]

_EXECUTOR = Field(default=None,
                  description="collab's extension: the executor (tenant). Omitted: the caller's "
                              "only executor, or `default` for the service role")


def _root_list(item: type[BaseModel]) -> Any:
    """``RootModel[list[item]]``, made inside a function: pydantic then keeps no
    module-level alias of the parametrised class (a public name that __all__ lacks)."""
    return RootModel[list[item]]  # type: ignore[valid-type]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkflowCreate(_Request):
    """``POST /api/v1/workflows``: a new draft (version 1)."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    definition: dict[str, Any] = Field(default_factory=lambda: {"nodes": [], "edges": []})
    input_schema: dict[str, Any] | None = None
    executor_id: Name | None = _EXECUTOR


class WorkflowUpdate(_Request):
    """``PUT /api/v1/workflows/{id}``: the fields to change of a draft (omitted: kept)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    definition: dict[str, Any] | None = None
    input_schema: dict[str, Any] | None = None


class WorkflowResponse(BaseModel):
    """A workflow with its definition (the React Flow graph ``{nodes, edges}``)."""

    id: UUID
    name: str
    description: str
    version: int
    status: str
    definition: dict[str, Any]
    input_schema: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    executor_id: str
    parent_id: UUID | None = None
    published_at: datetime | None = None

    @classmethod
    def of(cls, workflow: Workflow) -> WorkflowResponse:
        """The answer for an SDK ``Workflow``."""
        return cls.model_validate(workflow.model_dump(by_alias=False))


class WorkflowPage(BaseModel):
    """One page of workflows, newest first: pass ``next_cursor`` as ``cursor`` until null."""

    items: list[WorkflowResponse]
    count: int
    next_cursor: str | None = None

    @classmethod
    def of(cls, page: Page[Workflow]) -> WorkflowPage:
        """The answer for an SDK page."""
        return cls(items=[WorkflowResponse.of(w) for w in page.items], count=page.count,
                   next_cursor=page.next_cursor)


class WorkflowListQuery(_Request):
    """``GET /api/v1/workflows``: filters and paging."""

    status: Literal["draft", "published", "archived"] | None = None
    executor_id: Name | None = None
    page_size: int = Field(default=20, ge=1, le=1000)
    cursor: Cursor | None = None


class DuplicateInput(_Request):
    """``POST /api/v1/workflows/{id}/duplicate``: the copy's name (default: the same)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)


class RunInput(_Request):
    """``POST /api/v1/workflows/{id}/run``: the run's input; ``idempotency_key`` (or the
    ``X-Idempotency-Key`` header: they must agree) makes a retry answer the same run."""

    input: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)


class ResumeInput(_Request):
    """``POST /api/v1/runs/{id}/resume``: the waiting approval step and its output."""

    step_id: str = Field(min_length=1, max_length=200)
    data: dict[str, Any] = Field(default_factory=dict)


class CancelInput(_Request):
    """``POST /api/v1/runs/{id}/cancel``: an optional reason (the run's ``error``)."""

    reason: str | None = Field(default=None, max_length=10000)


class RunResponse(BaseModel):
    """A run: its status, input, the outputs of its finished steps (``context``, by step
    id) and its timing."""

    id: UUID
    workflow_id: UUID
    status: str
    trigger_type: str
    input: dict[str, Any]
    context: dict[str, Any]
    error: str | None
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    executor_id: str
    workflow_version: int
    idempotency_key: str | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, run: Run) -> RunResponse:
        """The answer for an SDK ``Run``."""
        return cls.model_validate(run.model_dump(by_alias=False))


class RunPage(BaseModel):
    """One page of runs, newest first: pass ``next_cursor`` as ``cursor`` until null."""

    items: list[RunResponse]
    count: int
    next_cursor: str | None = None

    @classmethod
    def of(cls, page: Page[Run]) -> RunPage:
        """The answer for an SDK page."""
        return cls(items=[RunResponse.of(r) for r in page.items], count=page.count,
                   next_cursor=page.next_cursor)


class RunListQuery(_Request):
    """``GET /api/v1/runs``: by workflow, status and creation time (``since`` <=
    ``created_at`` < ``until``; an ``until`` before ``since`` is an empty range), newest
    first."""

    workflow_id: UUID | None = None
    status: Literal["pending", "running", "paused", "succeeded", "failed", "cancelled"] | None = None
    since: ClientTime | None = None
    until: ClientTime | None = None
    executor_id: Name | None = None
    page_size: int = Field(default=20, ge=1, le=1000)
    cursor: Cursor | None = None


class StepRunResponse(BaseModel):
    """One step of a run."""

    run_id: UUID
    step_id: str
    type: str
    kind: str
    status: str
    position: int
    predecessors: list[str]
    attempts: int
    max_attempts: int
    input: Any = None
    output: Any = None
    error: str | None = None
    job_id: UUID | None = None
    created_at: datetime
    queued_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None

    @classmethod
    def of(cls, step: StepRun) -> StepRunResponse:
        """The answer for an SDK ``StepRun``."""
        return cls.model_validate(step.model_dump(by_alias=False))


if TYPE_CHECKING:
    _StepRunListBase = RootModel[list[StepRunResponse]]
else:
    _StepRunListBase = _root_list(StepRunResponse)


class StepRunList(_StepRunListBase):
    """The run's steps in definition order."""


class EventResponse(BaseModel):
    """One event of a run (``run_<status>`` or ``step_<status>``), as the log has it."""

    seq: int
    run_id: UUID
    event_type: str
    step_id: str | None = None
    payload: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, event: JobEvent) -> EventResponse:
        """The answer for an SDK ``JobEvent`` of a run (its ``job_id`` is the run id)."""
        step = event.payload.get("step_id")
        return cls(seq=event.seq, run_id=event.job_id, event_type=event.event_type,
                   step_id=step if isinstance(step, str) else None, payload=event.payload,
                   created_at=event.created_at)


if TYPE_CHECKING:
    _EventListBase = RootModel[list[EventResponse]]
else:
    _EventListBase = _root_list(EventResponse)


class EventList(_EventListBase):
    """A run's events in seq order."""


class EventsQuery(_Request):
    """``GET /api/v1/runs/{id}/events``: the events after ``after_seq`` (default all)."""

    after_seq: int = Field(default=0, ge=0, le=2**62)


class ValidationResponse(BaseModel):
    """The engine's verdict on a definition: valid, or each problem in words."""

    valid: bool
    errors: list[str]


class ScheduleInput(_Request):
    """``POST /api/v1/triggers/schedule``: a cron trigger of a workflow; with
    ``schedule_id``, the fields to change of that schedule (omitted: kept)."""

    # A new schedule needs its workflow and cron (the handler's 422 otherwise).
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": ["schedule_id"], "properties": {"schedule_id": {"type": "string"}}},
        {"required": ["workflow_id", "cron"], "properties": {"workflow_id": {"type": "string"},
                                                             "cron": {"type": "string"}}}]})

    workflow_id: UUID | None = None
    schedule_id: UUID | None = None
    cron: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, min_length=1, max_length=100)
    input: dict[str, Any] | None = None
    enabled: bool | None = None


class ScheduleResponse(BaseModel):
    """A cron trigger of a workflow."""

    id: UUID
    workflow_id: UUID
    executor_id: str
    cron: str
    timezone: str
    input: dict[str, Any]
    enabled: bool
    next_fire_at: datetime
    last_fired_at: datetime | None = None
    last_run_id: UUID | None = None
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, schedule: Schedule) -> ScheduleResponse:
        """The answer for an SDK ``Schedule``."""
        return cls.model_validate(schedule.model_dump(by_alias=False))


if TYPE_CHECKING:
    _ScheduleListBase = RootModel[list[ScheduleResponse]]
else:
    _ScheduleListBase = _root_list(ScheduleResponse)


class ScheduleList(_ScheduleListBase):
    """Schedules by next fire time."""


class SchedulesQuery(_Request):
    """``GET /api/v1/triggers/schedules``: by workflow or executor."""

    workflow_id: UUID | None = None
    executor_id: Name | None = None


class WebhookSecretResponse(BaseModel):
    """A workflow's webhook secret: ``secret`` only in the answer that made it."""

    workflow_id: UUID
    fingerprint: str
    created_at: datetime
    secret: str | None = None


class CatalogQuery(_Request):
    """``GET /api/v1/catalog/steps``: whose step types (see ``executor_id``)."""

    executor_id: Name | None = _EXECUTOR


class StepTypeResponse(BaseModel):
    """A palette entry: a step type with its metadata and schemas."""

    name: str
    title: str
    description: str
    category: str
    kind: str
    config_schema: dict[str, Any] | None = None
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    executor_id: str

    @classmethod
    def of(cls, step_type: StepType) -> StepTypeResponse:
        """The answer for an SDK ``StepType``."""
        return cls.model_validate(step_type.model_dump(by_alias=False))


if TYPE_CHECKING:
    _CatalogBase = RootModel[list[StepTypeResponse]]
else:
    _CatalogBase = _root_list(StepTypeResponse)


class Catalog(_CatalogBase):
    """The step catalog: built-ins (``executor_id`` ``*``) and the executor's types."""


class SnapshotMessage(BaseModel):
    """The first message of ``WS /ws/runs/{run_id}``: the run and its steps as committed
    (``step_statuses``: step id → status), and the ``seq`` events continue after."""

    type: Literal["snapshot"] = "snapshot"
    step_statuses: dict[str, str]
    run: RunResponse
    steps: list[StepRunResponse]
    seq: int


class EventMessage(EventResponse):
    """Every later message of ``WS /ws/runs/{run_id}``: one event, once, in seq order."""

    type: Literal["event"] = "event"


class EndMessage(BaseModel):
    """The last message: ``final`` after the run's final event, ``timeout``, or
    ``shutdown``."""

    type: Literal["end"] = "end"
    reason: str
