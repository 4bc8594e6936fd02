"""Typed rows of the workflow engine (pydantic v2, the same conventions as
``collab_sdk.models``: snake_case in Python, camelCase accepted and produced on the wire,
unknown columns ignored)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from collab_sdk.models import CollabModel

__all__ = ["Node", "Edge", "Definition", "Workflow", "ValidationResult", "StepType", "Run",
           "StepRun", "Started", "RunSnapshot", "Schedule", "FiredSchedule", "WebhookSecret",
           "StepPayload", "WorkflowCreated", "ScheduleCreated"]

#: The words of each status column (``collab_sdk.states`` holds the same as sets).
WorkflowStatus = Literal["draft", "published", "archived"]
RunStatus = Literal["pending", "running", "paused", "succeeded", "failed", "cancelled"]
StepStatus = Literal["pending", "queued", "running", "waiting", "succeeded", "failed", "skipped",
                     "cancelled"]
TriggerType = Literal["manual", "webhook", "schedule"]
StepKind = Literal["job", "approval"]


class Node(CollabModel):
    """A step of a definition: its id in the graph, its catalog type and its data (the
    step's config, as the editor saves it)."""

    id: str
    type: str
    data: dict[str, Any] = Field(default_factory=dict)


class Edge(CollabModel):
    """``source`` must finish before ``target`` starts; ``target`` receives its output."""

    id: str
    source: str
    target: str


class Definition(CollabModel):
    """The React Flow shaped graph ``{nodes, edges}`` a workflow runs."""

    nodes: list[Node] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)


class Workflow(CollabModel):
    """A workflow definition: a draft is edited, a published one is frozen and runs."""

    id: UUID
    executor_id: str
    name: str
    description: str = ""
    version: int
    status: WorkflowStatus
    definition: Definition
    input_schema: dict[str, Any] | None = None
    parent_id: UUID | None = None
    published_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class ValidationResult(CollabModel):
    """What the engine says of a definition: valid, or each problem in words."""

    valid: bool
    errors: list[str] = Field(default_factory=list)


class StepType(CollabModel):
    """A catalog entry: a step type a workflow node may name (``executor_id`` ``*`` for
    built-ins such as ``approval``)."""

    executor_id: str
    name: str
    title: str
    description: str = ""
    category: str = "general"
    kind: StepKind = "job"
    config_schema: dict[str, Any] | None = None
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None


class Run(CollabModel):
    """One run of a workflow: its input, the outputs of its finished steps (``context``,
    by step id) and its status."""

    id: UUID
    workflow_id: UUID
    workflow_version: int
    executor_id: str
    status: RunStatus
    trigger_type: TriggerType = "manual"
    input: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    idempotency_key: str | None = None
    schedule_id: UUID | None = None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime | None = None


class StepRun(CollabModel):
    """One step of a run: its status, attempts, input, output and the job that ran it."""

    run_id: UUID
    step_id: str
    executor_id: str
    type: str
    kind: StepKind
    position: int = 0
    status: StepStatus
    predecessors: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    max_attempts: int = 3
    attempts: int = 0
    input: Any = None
    output: Any = None
    error: str | None = None
    job_id: UUID | None = None
    created_at: datetime
    queued_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime | None = None


class Started(CollabModel):
    """The answer of a start: the run, and whether this call created it (False: the
    idempotency key named an existing run)."""

    run: Run
    created: bool


class WorkflowCreated(CollabModel):
    """The answer of an idempotent create or duplicate: the workflow, and whether this
    call made it (False: the idempotency key named an existing one)."""

    workflow: Workflow
    created: bool


class RunSnapshot(CollabModel):
    """A run and its steps as they are, and the event ``seq`` to follow it from:
    ``client.workflows.watch_run(run.id, since_seq=snapshot.cursor)`` misses nothing."""

    run: Run
    steps: list[StepRun]
    cursor: int


class Schedule(CollabModel):
    """A cron trigger of a workflow, fired by ``fire_due_schedules_v1``."""

    id: UUID
    workflow_id: UUID
    executor_id: str
    cron: str
    timezone: str = "UTC"
    input: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    next_fire_at: datetime
    last_fired_at: datetime | None = None
    last_run_id: UUID | None = None
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime


class ScheduleCreated(CollabModel):
    """The answer of an idempotent schedule create: the schedule, and whether this call
    made it (False: the idempotency key named an existing one)."""

    schedule: Schedule
    created: bool


class FiredSchedule(CollabModel):
    """One schedule fired at ``tick``: the run, and whether this call created it."""

    schedule_id: UUID
    run_id: UUID | None = None
    tick: datetime
    created: bool


class WebhookSecret(CollabModel):
    """A workflow's webhook secret: ``secret`` only in the answer that created it."""

    workflow_id: UUID
    fingerprint: str
    created_at: datetime
    secret: str | None = None


class StepPayload(CollabModel):
    """The payload of a step's job, as the engine enqueues it: the node's ``config``, the
    run's ``input``, the outputs of the step's predecessors (``steps``, by step id), and
    where it belongs (``run_id``, ``workflow_id``, ``step_id``)."""

    run_id: UUID
    workflow_id: UUID
    step_id: str
    config: dict[str, Any] = Field(default_factory=dict)
    input: dict[str, Any] = Field(default_factory=dict)
    steps: dict[str, Any] = Field(default_factory=dict)
