"""Workflows: DAG runs whose steps are collab jobs, advanced in SQL.

``models`` holds the typed rows (definitions, runs, step runs, snapshots, schedules, the
step catalog) and ``builder`` a thin Python way to write the same definition JSON the
seed's editor saves. The SDK methods are ``client.workflows`` (``collab_sdk.client.
workflows``), the worker's ``@worker.step`` registers catalog entries, and the engine is
SQL (``supabase/migrations/*_collab_workflows_*.sql``, ``docs/workflows.md``).

May import: the vocabulary (``errors``, ``models``, ``states``). No role package.
"""

from collab_sdk.workflows.builder import Flow
from collab_sdk.workflows.models import (Definition, Edge, FiredSchedule, Node, Run, RunSnapshot,
                                         Schedule, Started, StepPayload, StepRun, StepType,
                                         ValidationResult, WebhookSecret, Workflow)

__all__ = ["Flow", "Definition", "Edge", "FiredSchedule", "Node", "Run", "RunSnapshot", "Schedule",
           "Started", "StepPayload", "StepRun", "StepType", "ValidationResult", "WebhookSecret", "Workflow"]
