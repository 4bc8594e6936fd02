"""Handlers and how they tell the worker what happened.

A handler is ``async def h(job, ctx)`` or ``def h(job, ctx)`` (run in a thread). Its
return value completes the job. Raising fails it: an ordinary exception is retried with
the engine's backoff, ``Retry(after=…)`` is retried after that delay, and
``PermanentFailure`` dead-letters it at once. If the ``job`` parameter is annotated
``Job[Model]``, the payload is validated into ``Model`` first; a payload that does not
validate fails the job permanently, naming the bad fields. ``isolation="process"`` runs
the handler in a child process (``collab_sdk.worker.processes``); it must then be a
module-level function, so the child can import it.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from collab_sdk.errors import ValidationError
from collab_sdk.models import Job

__all__ = ["Retry", "PermanentFailure", "Task", "TaskRegistry", "ISOLATIONS"]

Handler = Callable[..., Any]
#: Where a handler may run: ``None`` (async on the worker's loop, sync on a thread of its
#: own) or ``"process"`` (a child process of the worker's pool).
ISOLATIONS = (None, "process")


class Retry(Exception):
    """Raise to fail this attempt and retry after ``after`` seconds (None: backoff)."""

    def __init__(self, message: str = "retry requested", *, after: float | None = None) -> None:
        super().__init__(message)
        self.after = after


class PermanentFailure(Exception):
    """Raise to fail the job for good: no more attempts, straight to the dead letters."""


@dataclass(frozen=True)
class Task:
    """A registered handler: for one exact ``type`` or every type starting with ``prefix``."""

    handler: Handler
    type: str | None = None
    prefix: str | None = None
    timeout: float | None = None
    payload_model: builtins.type[BaseModel] | None = None
    isolation: str | None = None

    @functools.cached_property
    def is_async(self) -> bool:
        """Whether the handler is a coroutine function (else it runs in a thread); asked
        once, not on every attempt."""
        return inspect.iscoroutinefunction(self.handler)


def _payload_model(handler: Handler) -> type[BaseModel] | None:
    """``Model`` when the handler's first parameter is annotated ``Job[Model]``."""
    try:
        hints = typing.get_type_hints(handler)
    except Exception:  # unresolvable annotations: no validation rather than a crash
        return None
    params = list(inspect.signature(handler).parameters)
    annotation = hints.get(params[0]) if params else None
    meta = getattr(annotation, "__pydantic_generic_metadata__", None)
    if meta and meta.get("origin") is Job and meta.get("args"):
        model = meta["args"][0]
        if isinstance(model, type) and issubclass(model, BaseModel):
            return model
    return None


class TaskRegistry:
    """Handlers by exact type and by prefix; the exact type wins, then the longest prefix."""

    def __init__(self) -> None:
        self.by_type: dict[str, Task] = {}
        self.by_prefix: dict[str, Task] = {}

    def add(self, handler: Handler, *, type: str | None, prefix: str | None,
            timeout: float | None, isolation: str | None = None) -> Task:
        """Register ``handler``; ``ValidationError`` on a duplicate or a bad spec."""
        if (type is None) == (prefix is None):
            raise ValidationError("register a handler for exactly one of type or prefix", code="CL400")
        if timeout is not None and timeout <= 0:
            raise ValidationError("timeout must be positive", code="CL400")
        if isolation not in ISOLATIONS:
            raise ValidationError(f"isolation must be None or 'process', not {isolation!r}", code="CL400")
        if isolation == "process" and ("<locals>" in getattr(handler, "__qualname__", "<locals>")
                                        or getattr(handler, "__module__", None) is None):
            raise ValidationError("isolation='process' needs a module-level function (a child process "
                                  f"imports it by name), not {handler!r}", code="CL400")
        table, key = (self.by_type, type) if type is not None else (self.by_prefix, prefix)
        assert key is not None
        if key in table:
            raise ValidationError(f"a handler for {key!r} is already registered", code="CL400")
        task = Task(handler, type=type, prefix=prefix, timeout=timeout,
                    payload_model=_payload_model(handler), isolation=isolation)
        table[key] = task
        return task

    def find(self, job_type: str) -> Task | None:
        """The task that handles ``job_type``, if any."""
        if job_type in self.by_type:
            return self.by_type[job_type]
        matches = [p for p in self.by_prefix if job_type.startswith(p)]
        return self.by_prefix[max(matches, key=len)] if matches else None

    @property
    def isolated(self) -> bool:
        """Whether any task runs in a child process (the worker then keeps a pool)."""
        return any(t.isolation == "process" for t in [*self.by_type.values(), *self.by_prefix.values()])

    def claim_filters(self) -> dict[str, list[str] | None]:
        """``types`` / ``type_prefixes`` for the claim, so only handled jobs are leased."""
        if not self.by_type and not self.by_prefix:
            return {"types": [], "type_prefixes": None}
        return {"types": sorted(self.by_type) or None, "type_prefixes": sorted(self.by_prefix) or None}
