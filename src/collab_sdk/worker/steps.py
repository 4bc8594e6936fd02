"""Workflow steps: ``@worker.step("http.fetch", title=...)`` registers a catalog entry
and the handler of that step type's jobs.

A step's job carries a ``StepPayload`` (the node's config, the run's input, the
predecessors' outputs). The handler receives a ``Step`` — with ``config`` validated into
``config_model`` and ``input`` into ``input_model`` when they are given — and the job
context, and returns the step's output (a pydantic model or JSON-ready value), which the
engine stores in the run's context in the transaction that completes the job. Config or
input that does not validate fails the step permanently, naming the fields. Everything
else (leases, retries with backoff, timeouts, drains) is the job machinery.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from collab_sdk.models import Job
from collab_sdk.worker.tasks import PermanentFailure
from collab_sdk.workflows.models import StepPayload

__all__ = ["Step", "StepSpec", "step_handler"]

ConfigT = TypeVar("ConfigT")
InputT = TypeVar("InputT")

StepHandler = Callable[..., Any]


@dataclass(frozen=True)
class Step(Generic[ConfigT, InputT]):
    """What a step handler receives: its config and input (typed when the step declared
    models), its predecessors' outputs by step id, and where it runs."""

    config: ConfigT
    input: InputT
    steps: Mapping[str, Any]
    run_id: str
    workflow_id: str
    step_id: str
    job: Job


@dataclass(frozen=True)
class StepSpec:
    """A step type a worker handles, as it is registered in the catalog."""

    name: str
    title: str
    description: str = ""
    category: str = "general"
    config_model: type[BaseModel] | None = None
    input_model: type[BaseModel] | None = None
    output_model: type[BaseModel] | None = None

    def catalog_entry(self) -> dict[str, Any]:
        """The ``register_step_types_v1`` entry: names, words and JSON Schemas."""
        def schema(model: type[BaseModel] | None) -> dict[str, Any] | None:
            return model.model_json_schema() if model is not None else None
        return {"name": self.name, "title": self.title, "description": self.description,
                "category": self.category, "kind": "job",
                "config_schema": schema(self.config_model), "input_schema": schema(self.input_model),
                "output_schema": schema(self.output_model)}

    def step_of(self, job: Job) -> Step[Any, Any]:
        """The ``Step`` of a claimed job; ``PermanentFailure`` when its payload, config
        or input does not validate."""
        try:
            payload = StepPayload.model_validate(job.payload)
            config = self.config_model.model_validate(payload.config) if self.config_model else payload.config
            data = self.input_model.model_validate(payload.input) if self.input_model else payload.input
        except PydanticValidationError as exc:
            raise PermanentFailure(f"step {self.name}: {exc}") from None
        return Step(config=config, input=data, steps=payload.steps, run_id=str(payload.run_id),
                    workflow_id=str(payload.workflow_id), step_id=payload.step_id, job=job)


def step_handler(spec: StepSpec, handler: StepHandler) -> Callable[[Job, Any], Any]:
    """The job handler that runs ``handler(step, ctx)`` for ``spec``'s jobs, async or
    sync as ``handler`` is."""
    if inspect.iscoroutinefunction(handler):
        async def run_async(job: Job, ctx: Any) -> Any:
            return await handler(spec.step_of(job), ctx)
        return _named(run_async, handler)

    def run_sync(job: Job, ctx: Any) -> Any:
        return handler(spec.step_of(job), ctx)
    return _named(run_sync, handler)


_F = TypeVar("_F", bound=Callable[..., Any])


def _named(wrapper: _F, handler: StepHandler) -> _F:
    wrapper.__name__ = getattr(handler, "__name__", wrapper.__name__)
    wrapper.__doc__ = handler.__doc__
    return wrapper

